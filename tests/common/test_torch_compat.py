"""common.torch_compat: torchvision, timm and transformers' BERT import and run on a CPU-only torch."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from common.torch_compat import _nms
from tests.conftest import REPO


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy NMS written plainly: keep the best box, drop every later one overlapping a kept box too much."""
    def iou(a: np.ndarray, b: np.ndarray) -> float:
        inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou(boxes[i], boxes[j]) <= threshold for j in keep):
            keep.append(int(i))
    return keep


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7, 1.0])
def test_nms_fallback_keeps_the_boxes_greedy_nms_keeps(threshold):
    rng = np.random.default_rng(int(threshold * 10))
    corner = rng.uniform(0, 50, size=(200, 2))
    boxes = np.hstack([corner, corner + rng.uniform(1, 20, size=(200, 2))]).astype(np.float32)
    scores = rng.permutation(200).astype(np.float32)  # distinct, so the order is unambiguous
    kept = _nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold)
    assert kept.dtype == torch.long
    assert kept.tolist() == _reference_nms(boxes, scores, threshold)
    assert 0 < len(kept) <= 200 and (threshold < 1.0 or len(kept) == 200)


def test_nms_fallback_on_no_boxes_returns_an_empty_index():
    kept = _nms(torch.empty(0, 4), torch.empty(0), 0.5)
    assert kept.shape == (0,) and kept.dtype == torch.long


def test_torchvision_timm_and_bert_import_and_run_after_ensure_torchvision(tmp_path):
    """A fresh interpreter, as a stage script starts: on a CPU torch beside the CUDA torchvision wheel
    these imports fail without the fallbacks; on a machine whose extension loads they must still work."""
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from common.torch_compat import ensure_torchvision
        ensure_torchvision()
        import torch, torchvision, timm
        from transformers import BertConfig, BertForSequenceClassification
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]])
        scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
        cnn = timm.create_model("resnet18", pretrained=False, num_classes=11).eval()
        bert = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                                                        num_attention_heads=2, intermediate_size=32, num_labels=14)).eval()
        with torch.no_grad():
            out = {"nms": torchvision.ops.nms(boxes, scores, 0.5).tolist(),
                   "batched": torchvision.ops.batched_nms(boxes, scores, torch.tensor([0, 1, 0, 1]), 0.5).tolist(),
                   "cnn": list(cnn(torch.zeros(2, 3, 64, 128)).shape),
                   "bert": list(bert(input_ids=torch.randint(0, 64, (2, 9))).logits.shape)}
        print(json.dumps(out))
    """)
    env = {"NO_ALBUMENTATIONS_UPDATE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["nms"] == [3, 2]  # box 0 overlaps the better box 3 (IoU 0.95); box 1 overlaps box 3 too (IoU 0.70)
    assert out["batched"] == [3, 0, 2]  # per class: {0, 2} and {1, 3} suppress only within themselves
    assert out["cnn"] == [2, 11] and out["bert"] == [2, 14]
