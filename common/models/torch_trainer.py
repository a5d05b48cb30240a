"""A PyTorch model behind the common Model interface: the loop every deep model shares.

Subclasses say how to build the network and turn inputs into tensors; this class picks the device
(CUDA when present), uses mixed precision there, stops early on the validation fold, checkpoints
each epoch into the fold's workdir (and resumes from it after an interruption, RNG states included, so
the resumed fit equals an uninterrupted one), and restores the best weights before predicting.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from common.faults import checkpoint
from common.models.base import Model
from common.progress import progress as progress_bar


class TorchModel(Model):
    def __init__(self, task="regression", seed=0, n_classes=None, epochs=30, batch_size=256, lr=1e-3,
                 weight_decay=0.0, patience=5, device="auto", amp=True, num_workers=0, progress=False, **params):
        super().__init__(task, seed, n_classes, **params)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.device, self.amp, self.num_workers, self.progress = patience, device, amp, num_workers, progress

    # ---- what a subclass provides
    def build_network(self, X: Any, y: np.ndarray, out_dim: int):
        """Return an nn.Module mapping a batch of inputs to `out_dim` outputs."""
        raise NotImplementedError

    def make_dataset(self, X: Any, y: np.ndarray | None, training: bool):
        """Return a torch Dataset yielding (inputs, target) pairs, target 0 when y is None."""
        raise NotImplementedError

    # ---- hooks a subclass may override (what differs between deep models)
    def collate(self, batch: list) -> Any:
        """Turn a list of dataset items into one batch (e.g. pad token ids to the longest in the batch)."""
        from torch.utils.data import default_collate

        return default_collate(batch)

    def loss(self, out, target):
        """The training loss: MSE, binary or multiclass cross-entropy, per-position cross-entropy for a
        sequence target (network output (batch, positions, classes), target (batch, positions))."""
        import torch.nn.functional as F

        if self.task == "regression":
            return F.mse_loss(out.squeeze(1).float(), target.float())
        if self.task == "binary":
            return F.binary_cross_entropy_with_logits(out.squeeze(1).float(), target.float())
        if self.task == "sequence":
            return F.cross_entropy(out.float().flatten(0, 1), target.long().flatten())
        return F.cross_entropy(out.float(), target.long())

    def tta_views(self, inputs) -> list:
        """Test-time augmentation: the views of a batch whose predictions are averaged (default: itself)."""
        return [inputs]

    def to_prediction(self, out):
        """Network outputs (float, on the CPU) to the task's prediction: values, P(y=1), class or
        per-position probabilities."""
        import torch

        if self.task == "regression":
            return out.squeeze(1)
        if self.task == "binary":
            return torch.sigmoid(out.squeeze(1))
        return torch.softmax(out, dim=-1)

    def out_dim(self, y: np.ndarray) -> int:
        """Outputs per row (per position for a sequence target): 1, or the number of classes."""
        if self.task == "sequence":
            return int(self.n_classes or int(np.max(y)) + 1)
        return self.classes(y) if self.task == "multiclass" else 1

    # ---- the shared loop
    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> TorchModel:
        import torch

        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        self.device_ = torch.device("cuda" if self.device == "auto" and torch.cuda.is_available()
                                    else ("cpu" if self.device == "auto" else self.device))
        y = np.asarray(y)
        self.out_dim_ = self.out_dim(y)
        self.net_ = self.build_network(X, y, self.out_dim_).to(self.device_)
        optimizer = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        train_loader = self._loader(X, y, training=True)
        valid_loader = self._loader(X_valid, y_valid, training=False) if X_valid is not None else None
        scaler = torch.amp.GradScaler(enabled=self._amp_enabled() and not self._bf16())

        start, best, best_state, stale = 0, np.inf, None, 0
        ckpt = Path(workdir) / "last.pt" if workdir is not None else None
        if ckpt is not None and ckpt.is_file():  # resume an interrupted fold where it stopped
            state = torch.load(ckpt, map_location=self.device_, weights_only=True)
            self.net_.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
            start, best, stale = int(state["epoch"]) + 1, float(state["best"]), int(state["stale"])
            best_state = state["best_net"]
            _set_rng_state(state, train_loader.generator, scaler, self.device_)
            if stale >= self.patience:  # the fold had stopped early: nothing is left to train
                start = self.epochs
        epochs = progress_bar(range(start, self.epochs), desc="epochs", leave=False, enabled=self.progress)
        for epoch in epochs:
            self.net_.train()
            for inputs, target in train_loader:
                optimizer.zero_grad(set_to_none=True)
                with self._autocast():
                    loss = self.loss(self.net_(self._to(inputs)), target.to(self.device_))
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            if valid_loader is None:
                best_state = None
                continue
            val_loss = self._evaluate(valid_loader)
            epochs.set_postfix(val_loss=f"{val_loss:.4f}")
            if val_loss < best - 1e-7:
                best, stale = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
            else:
                stale += 1
            if ckpt is not None:
                _save_checkpoint(ckpt, {"net": self.net_.state_dict(), "optimizer": optimizer.state_dict(),
                                        "epoch": epoch, "best": best, "stale": stale, "best_net": best_state,
                                        **_rng_state(train_loader.generator, scaler, self.device_)})
                checkpoint(f"epoch:{epoch}")
            if stale >= self.patience:
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.info = {"best_val_loss": None if best == np.inf else float(best), "device": str(self.device_)}
        return self

    def predict(self, X) -> np.ndarray:
        import torch

        self.net_.eval()
        outputs = []
        with torch.no_grad(), self._autocast():
            for inputs, _ in self._loader(X, None, training=False):
                views = [self.to_prediction(self.net_(self._to(v)).float().cpu()) for v in self.tta_views(inputs)]
                outputs.append(torch.stack(views).mean(0))
        return torch.cat(outputs).numpy().astype(np.float64)

    # ---- helpers
    def _loader(self, X, y, training: bool):
        import torch

        generator = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(
            self.make_dataset(X, y, training), batch_size=self.batch_size, shuffle=training,
            num_workers=self.num_workers, generator=generator, pin_memory=self.device_.type == "cuda",
            collate_fn=self.collate,
        )

    def _evaluate(self, loader) -> float:
        import torch

        self.net_.eval()
        total, count = 0.0, 0
        with torch.no_grad(), self._autocast():
            for inputs, target in loader:
                loss = self.loss(self.net_(self._to(inputs)), target.to(self.device_))
                total += float(loss) * len(target)
                count += len(target)
        return total / max(count, 1)

    def _to(self, inputs):
        if isinstance(inputs, dict):
            return {k: self._to(v) for k, v in inputs.items()}
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(self._to(v) for v in inputs)
        return inputs.to(self.device_, non_blocking=True)

    def _amp_enabled(self) -> bool:
        return bool(self.amp) and self.device_.type == "cuda"

    def _bf16(self) -> bool:
        import torch

        return self.device_.type == "cuda" and torch.cuda.is_bf16_supported()

    def _autocast(self):
        import torch

        dtype = torch.bfloat16 if self._bf16() else torch.float16
        return torch.autocast(self.device_.type, dtype=dtype, enabled=self._amp_enabled())


def _rng_state(generator, scaler, device) -> dict:
    """What else decides the next epoch: the shuffling generator, dropout's RNG, the AMP loss scale.
    With them in the checkpoint a resumed fit takes the very steps the uninterrupted one would."""
    import torch

    state = {"loader_rng": generator.get_state(), "torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    if scaler.is_enabled():
        state["scaler"] = scaler.state_dict()
    return state


def _set_rng_state(state: dict, generator, scaler, device) -> None:
    import torch

    if "loader_rng" in state:  # checkpoints written before the RNG was saved resume without it
        generator.set_state(state["loader_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
    if "cuda_rng" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    if "scaler" in state and scaler.is_enabled():
        scaler.load_state_dict(state["scaler"])


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
