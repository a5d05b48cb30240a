"""The pieces of the torch training engine that are not the loop: the HF `accelerate` Accelerator (device,
mixed precision, accumulation, TensorBoard, DDP), timm's optimizer and scheduler, the epoch checkpoints
and the exported network.

A fold's workdir holds, once a model has trained in it:

    checkpoint.json        the loop state (epoch, best score, stale epochs) and the folder it belongs to;
                           replaced atomically after that folder is complete, so a reader never sees half
    checkpoints/epoch-<k>/ accelerate's save_state (weights, optimizer, scheduler, EMA, AMP scaler, each
                           process's RNG states) and best.safetensors (the best epoch's weights)
    tb/                    TensorBoard logs
    network.pt2            the trained network as a torch.export program (what `compkit export` reads)

Shuffling draws from accelerate's seedable sampler, seeded by the model's seed plus the epoch, so the order
of an epoch needs no saved state; dropout's RNG is in the checkpoint.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from common.data.io import read_json, write_json

STATE = "checkpoint.json"
NETWORK = "network.pt2"


def make_accelerator(model: Any, workdir: Path | None):
    """An Accelerator for one fit: CPU when asked (or no CUDA), bf16 on a GPU that has it, fp16 with a loss
    scaler on one that does not, full precision on the CPU; TensorBoard logs under workdir/tb."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

    # accelerate keeps one shared state per process; each fit sets its own precision and accumulation
    AcceleratorState._reset_state()
    GradientState._reset_state()
    cpu, precision = placement(model.device, model.amp)
    return Accelerator(
        cpu=cpu, mixed_precision=precision, gradient_accumulation_steps=int(model.grad_accum),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=int(model.seed)),
        log_with="tensorboard" if workdir is not None else None,
        project_config=ProjectConfiguration(project_dir=str(workdir)) if workdir is not None else None,
    )


def placement(device: str, amp: bool) -> tuple[bool, str]:
    """(CPU only?, accelerate's mixed precision) for the `device` and `amp` params: AMP on a GPU only."""
    import torch

    cpu = str(device).startswith("cpu") or not torch.cuda.is_available()
    if not amp or cpu:
        return cpu, "no"
    return cpu, "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def memory_format(model: Any, device):
    """channels-last for a model that asks for it (`channels_last = True`: the image models) on a GPU, where
    convolutions run faster in it under mixed precision; the default layout everywhere else."""
    import torch

    if getattr(model, "channels_last", False) and torch.device(device).type == "cuda":
        return torch.channels_last
    return torch.contiguous_format


def make_optimizer(model: Any, net):
    from common.torch_compat import ensure_torchvision

    ensure_torchvision()  # timm imports torchvision, whose CUDA ops do not load beside a CPU torch
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(net, opt=model.optimizer, lr=model.lr, weight_decay=model.weight_decay,
                               layer_decay=model.layer_decay)


def make_scheduler(model: Any, optimizer, updates_per_epoch: int, epochs: int | None = None):
    """timm's scheduler over `epochs` (default: the model's), stepped once per optimizer update (`step_update`);
    the warmup is the same share of them as `warmup_epochs` is of the model's `epochs`."""
    from timm.scheduler import create_scheduler_v2

    if model.scheduler in (None, "none"):
        return None
    epochs = model.epochs if epochs is None else epochs
    warmup = model.warmup_epochs * epochs / max(model.epochs, 1)
    scheduler, _ = create_scheduler_v2(optimizer, sched=model.scheduler, num_epochs=epochs,
                                       warmup_epochs=warmup, warmup_lr=model.lr * 0.01,
                                       min_lr=model.lr * 0.01, step_on_epochs=False,
                                       updates_per_epoch=max(updates_per_epoch, 1))
    return scheduler


def updates_per_epoch(batches: int, grad_accum: int) -> int:
    return math.ceil(batches / max(int(grad_accum), 1))


def save_checkpoint(accelerator, workdir: Path, epoch: int, loop: dict, best_net: dict | None) -> None:
    """Epoch `epoch`'s state into a new folder; then (main process) the pointer naming it; then older folders go."""
    from safetensors.torch import save_file

    folder = Path(workdir) / "checkpoints" / f"epoch-{epoch}"
    folder.mkdir(parents=True, exist_ok=True)  # every process writes its RNG state into it
    accelerator.save_state(str(folder))
    if accelerator.is_main_process and best_net is not None:
        save_file({k: v.contiguous() for k, v in best_net.items()}, str(folder / "best.safetensors"))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(Path(workdir) / STATE, {**loop, "epoch": epoch, "folder": folder.name})
        for old in folder.parent.iterdir():
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator, workdir: Path | None) -> tuple[dict | None, dict | None]:
    """The saved loop state and best weights, after restoring the prepared objects; (None, None) if none."""
    from safetensors.torch import load_file

    if workdir is None or not (Path(workdir) / STATE).is_file():
        return None, None
    loop = read_json(Path(workdir) / STATE)
    folder = Path(workdir) / "checkpoints" / loop["folder"]
    accelerator.load_state(str(folder))
    best = folder / "best.safetensors"
    return loop, (load_file(str(best)) if best.is_file() else None)


def read_checkpoint(workdir: Path) -> dict:
    """A fold's last checkpoint as plain data (loop state, "net", "optimizer", "best_net"): for tests and tools."""
    import torch
    from safetensors.torch import load_file

    loop = read_json(Path(workdir) / STATE)
    folder = Path(workdir) / "checkpoints" / loop["folder"]
    best = folder / "best.safetensors"
    return {**loop, "net": load_file(str(folder / "model.safetensors")),
            "optimizer": torch.load(folder / "optimizer.bin", weights_only=True),
            "best_net": load_file(str(best)) if best.is_file() else None}


def export_network(net, example: Any, path: Path) -> None:
    """Save `net` (on the CPU, in eval mode) as a torch.export program with a dynamic batch dimension."""
    import copy

    import torch
    from torch.utils._pytree import tree_map

    cpu_net = copy.deepcopy(net).float().cpu().eval()
    example = tree_map(lambda t: t.cpu() if isinstance(t, torch.Tensor) else t, example)
    dynamic = (tree_map(lambda t: {0: torch.export.Dim.AUTO} if isinstance(t, torch.Tensor) else None, example),)
    program = torch.export.export(cpu_net, (example,), dynamic_shapes=dynamic)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    torch.export.save(program, str(tmp))
    tmp.replace(path)


def export_onnx(program_path: Path, onnx_path: Path) -> Path:
    """Convert a saved torch.export program to ONNX (the dynamo exporter), written atomically."""
    import torch

    program = torch.export.load(str(program_path))
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_name(f".{onnx_path.stem}.tmp.onnx")
    torch.onnx.export(program, dynamo=True, f=str(tmp), external_data=False)
    tmp.replace(onnx_path)
    return onnx_path
