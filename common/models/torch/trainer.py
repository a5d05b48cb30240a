"""A PyTorch model behind the common Model interface: the loop every deep model shares.

Subclasses say how to build the network and turn inputs into tensors (and may override the hooks: collation,
loss, TTA views, outputs to predictions). The loop runs on HF `accelerate` (common.models.torch.engine holds
the setup): CUDA when present, mixed precision there, gradient accumulation and clipping, timm's optimizer,
scheduler (stepped per update) and EMA, DDP under `accelerate launch` / `torchrun`. It selects the best epoch
and stops early on the contest metric when the fold loop hands one over (`model.metric`), else on the
validation loss; checkpoints each epoch into the fold's workdir and resumes from it after an interruption
(RNG states included, so the resumed fit equals an uninterrupted one); restores the best weights before
predicting; and saves the trained network for `compkit export`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from common.faults import checkpoint
from common.models.torch import engine as engine
from common.models.base import Model
from common.progress import progress as progress_bar


class TorchModel(Model):
    """`monitor`: "metric" (default; the validation loss when no metric is given) or "loss". `optimizer`,
    `layer_decay`: timm's create_optimizer_v2; `scheduler` (a timm name or None), `warmup_epochs`: its
    create_scheduler_v2; `ema_decay`: timm's ModelEmaV3, whose weights then validate and predict.
    `max_samples`: training rows seen per fit, at most (a compute budget for a CPU: time grows with the rows
    seen, not with the data's size): a bigger training set gets fewer epochs, at least one (`fit_epochs`),
    the warmup the same share of them; None trains `epochs` whatever the size."""

    def __init__(self, task="regression", seed=0, n_classes=None, epochs=30, batch_size=256, lr=1e-3,
                 weight_decay=0.0, patience=5, device="auto", amp=True, num_workers=0, progress=False,
                 grad_accum=1, clip_grad=None, optimizer="adamw", layer_decay=None, scheduler="cosine",
                 warmup_epochs=1, ema_decay=None, monitor="metric", export=True, max_samples=None, **params):
        super().__init__(task, seed, n_classes, **params)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.device, self.amp, self.num_workers, self.progress = patience, device, amp, num_workers, progress
        self.grad_accum, self.clip_grad, self.optimizer, self.layer_decay = grad_accum, clip_grad, optimizer, layer_decay
        self.scheduler, self.warmup_epochs, self.ema_decay = scheduler, warmup_epochs, ema_decay
        self.monitor, self.export, self.max_samples = monitor, export, max_samples

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

    def fit_epochs(self, n_rows: int) -> int:
        """Epochs a fit on `n_rows` training rows runs: `epochs`, cut to `max_samples // n_rows` (at least 1)."""
        if self.max_samples is None:
            return int(self.epochs)
        return max(1, min(int(self.epochs), int(self.max_samples) // max(int(n_rows), 1)))

    # ---- the shared loop
    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> TorchModel:
        import torch

        if self.monitor not in ("metric", "loss"):
            raise ValueError(f"monitor must be 'metric' or 'loss'; got {self.monitor!r}")
        torch.manual_seed(self.seed)
        np.random.seed(self.seed)
        workdir = Path(workdir) if workdir is not None else None
        acc = self.accelerator_ = engine.make_accelerator(self, workdir)
        self.device_ = acc.device
        y = np.asarray(y)
        self.out_dim_ = self.out_dim(y)
        self.memory_format_ = engine.memory_format(self, acc.device)
        self.net_ = self.build_network(X, y, self.out_dim_).to(memory_format=self.memory_format_)
        optimizer = engine.make_optimizer(self, self.net_)
        raw_train = self._loader(X, y, training=True)
        raw_valid = self._loader(X_valid, y_valid, training=False) if X_valid is not None else None
        net, optimizer, train_loader = acc.prepare(self.net_, optimizer, raw_train)
        valid_loader = acc.prepare(raw_valid) if raw_valid is not None else None
        self.net_ = acc.unwrap_model(net)
        per_epoch = engine.updates_per_epoch(len(train_loader), self.grad_accum)
        n_epochs = self.fit_epochs(len(y))
        scheduler = engine.make_scheduler(self, optimizer, per_epoch, n_epochs)
        self.ema_ = None
        if self.ema_decay:
            from timm.utils import ModelEmaV3

            self.ema_ = ModelEmaV3(self.net_, decay=float(self.ema_decay))
        for extra in (scheduler, self.ema_):
            if extra is not None:
                acc.register_for_checkpointing(extra)
        use_metric = self.monitor == "metric" and self.metric is not None and valid_loader is not None
        self.monitored_ = self.metric.name if use_metric else "val_loss"
        sign = -1.0 if use_metric and self.metric.greater_is_better else 1.0  # sign * score: lower is better
        self.valid_y_ = None if y_valid is None else np.asarray(y_valid)

        loop = {"best": None, "best_loss": None, "best_epoch": None, "stale": 0}
        saved, best_state = engine.load_checkpoint(acc, workdir)
        start = 0
        if saved is not None:  # resume an interrupted fold where it stopped
            loop.update({k: saved[k] for k in loop})
            start = int(saved["epoch"]) + 1
            if loop["stale"] >= self.patience:  # the fold had stopped early: nothing is left to train
                start = n_epochs
        updates = start * per_epoch
        if workdir is not None:
            acc.init_trackers("tb")
        epochs = progress_bar(range(start, n_epochs), desc="epochs", leave=False,
                              enabled=bool(self.progress) and acc.is_main_process)
        try:
            for epoch in epochs:
                net.train()
                train_loader.set_epoch(epoch)  # the shuffling order of this epoch: seed + epoch
                began, rows, total = time.perf_counter(), 0, 0.0
                for inputs, target in train_loader:
                    with acc.accumulate(net):
                        loss = self.loss(net(self._formatted(inputs)), target)
                        acc.backward(loss)
                        if acc.sync_gradients and self.clip_grad:
                            acc.clip_grad_norm_(net.parameters(), float(self.clip_grad))
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    if acc.sync_gradients:
                        updates += 1
                        if scheduler is not None:
                            scheduler.step_update(updates)
                        if self.ema_ is not None:
                            self.ema_.update(self.net_, step=updates)
                    rows += len(target)
                    total += loss.detach() * len(target)
                logged = {"loss": float(total) / max(rows, 1),
                          "rows_s": rows * acc.num_processes / max(time.perf_counter() - began, 1e-9)}
                if valid_loader is None:
                    best_state = None
                    acc.log({f"train/{k}": v for k, v in logged.items()}, step=epoch)
                    continue
                scores = self._evaluate(valid_loader)
                score = scores[self.monitored_]
                best = np.inf if loop["best"] is None else sign * loop["best"]
                if sign * score < best - 1e-7:
                    loop.update(best=float(score), best_loss=float(scores["val_loss"]), best_epoch=epoch, stale=0)
                    best_state = {k: v.detach().cpu().clone() for k, v in self._eval_net().state_dict().items()}
                else:
                    loop["stale"] += 1
                epochs.set_postfix(loss=f"{logged['loss']:.4f}", **{k: f"{v:.4f}" for k, v in scores.items()},
                                   rows_s=f"{logged['rows_s']:.0f}")
                acc.log({**{f"train/{k}": v for k, v in logged.items()},
                         **{f"valid/{k}": v for k, v in scores.items()},
                         "lr": optimizer.param_groups[-1]["lr"]}, step=epoch)
                if workdir is not None:
                    engine.save_checkpoint(acc, workdir, epoch, loop, best_state)
                    checkpoint(f"epoch:{epoch}")
                if loop["stale"] >= self.patience:
                    break
        finally:  # not end_training(): under DDP it ends the process group, which predict still uses
            for tracker in acc.trackers:
                tracker.finish()
        self.net_ = self._eval_net()
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.info = {"best_val_loss": loop["best_loss"], "best_score": loop["best"], "monitor": self.monitored_,
                     "best_epoch": loop["best_epoch"], "epochs": n_epochs, "device": str(acc.device), "processes": acc.num_processes}
        if workdir is not None and self.export and acc.is_main_process:
            self._export(raw_valid if raw_valid is not None else raw_train, workdir / engine.NETWORK)
        return self

    def predict(self, X) -> np.ndarray:
        import torch

        acc = self.accelerator_
        self.net_.eval()
        outputs = []
        with torch.no_grad(), acc.autocast():
            for inputs, _ in acc.prepare_data_loader(self._loader(X, None, training=False)):
                views = [self.to_prediction(self.net_(self._formatted(v)).float().cpu()) for v in self.tta_views(inputs)]
                # every process predicts its shard; each gets all rows back, in the dataset's order
                outputs.append(acc.gather_for_metrics(torch.stack(views).mean(0).to(acc.device)).cpu())
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

    def _formatted(self, inputs):
        """A batch of images in the network's memory format (channels-last on a GPU for the image models)."""
        import torch

        fmt = getattr(self, "memory_format_", torch.contiguous_format)
        if fmt is torch.contiguous_format or not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
            return inputs
        return inputs.contiguous(memory_format=fmt)

    def _eval_net(self):
        return self.ema_.module if self.ema_ is not None else self.net_

    def _evaluate(self, loader) -> dict[str, float]:
        """The validation loss over the whole fold (all processes' rows) and, when monitored, the metric."""
        import torch

        acc, net = self.accelerator_, self._eval_net()
        net.eval()
        outs, targets = [], []
        with torch.no_grad(), acc.autocast():
            for inputs, target in loader:
                out, target = acc.gather_for_metrics((net(self._formatted(inputs)).float(), target))
                outs.append(out.cpu())
                targets.append(target.cpu())
        out, target = torch.cat(outs), torch.cat(targets)
        scores = {"val_loss": float(self.loss(out, target))}
        if self.monitored_ != "val_loss":
            scores[self.monitored_] = float(self.metric(self.valid_y_, self.to_prediction(out).numpy()))
        return scores

    def _export(self, loader, path: Path) -> None:
        """Save the trained network for `compkit export`; a network torch.export cannot trace is reported."""
        import warnings

        inputs, _ = next(iter(loader))
        try:
            engine.export_network(self.net_, inputs, path)
        except Exception as exc:  # noqa: BLE001 (any tracing failure: the fit itself is fine)
            self.info["export"] = f"not exportable: {type(exc).__name__}: {exc}"[:500]
            warnings.warn(f"{type(self).__name__}: the trained network could not be saved for ONNX export "
                          f"({type(exc).__name__}: {exc}); set export: false in its params to skip it", stacklevel=2)
