"""Make `import torchvision` (and so timm and transformers' vision parts) work on a CPU-only torch.

The torchvision wheel that matches torch 2.13.0 is a CUDA build; next to the CPU torch its C++
extension cannot load, and torchvision's import then fails while registering fake kernels for
`torchvision::nms` ("operator torchvision::nms does not exist"). When - and only when - the
extension does not load, we define `nms` (and `qnms`) ourselves with a pure-PyTorch implementation
before torchvision is imported, and let `torchvision.ops.nms` / `batched_nms` call it. The other
C++ ops (roi_align, deform_conv2d, ...) stay unavailable there; no contest here uses them. On a
machine where the extension loads (a CUDA torch, or a matching CPU build) this does nothing.

Call `ensure_torchvision()` before importing torchvision, timm, transformers' BERT or
albumentations-with-torch.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

_done = False


def ensure_torchvision() -> bool:
    """Register CPU fallbacks if torchvision's C++ ops are unavailable. True if fallbacks were added."""
    global _done
    if _done:
        return False
    _done = True
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    if _extension_loads(torch, Path(next(iter(spec.submodule_search_locations)))):
        return False
    _define_fallbacks(torch)
    # torchvision's wrappers refuse to run unless its own extension loaded; nms's wrapper lives in ops.boxes
    import torchvision.ops.boxes

    torchvision.ops.boxes._assert_has_ops = lambda: None
    return True


def _extension_loads(torch, package_dir: Path) -> bool:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = package_dir / f"_C{suffix}"
        if candidate.is_file():
            try:
                torch.ops.load_library(str(candidate))
                return True
            except (OSError, RuntimeError):
                return False
    return False


def _define_fallbacks(torch) -> None:
    lib = torch.library.Library("torchvision", "DEF")  # noqa: F841 (kept alive below)
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    impl = torch.library.Library("torchvision", "IMPL", "CompositeExplicitAutograd")
    impl.impl("nms", _nms)
    impl.impl("qnms", _nms)
    # The Library objects unregister their ops when collected: keep them for the process lifetime.
    _define_fallbacks.libraries = (lib, impl)


def _nms(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression (the reference algorithm torchvision's kernel implements)."""
    import torch

    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    x1, y1, x2, y2 = dets.float().unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.long)
