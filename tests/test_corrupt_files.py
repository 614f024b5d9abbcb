"""A damaged exported predictor or checkpoint handed to a command is one line with exit code 2, never a
traceback (before: onnxruntime's InvalidProtobuf, zipfile's BadZipFile, a KeyError, a multi-line message)."""

from __future__ import annotations

import pytest
import torch
from test_search_integrity import cli
from torch import nn

from autometa.errors import ArtifactError
from autometa.learning.checkpoint import load_checkpoint


class Tiny(nn.Module):
    def forward(self, support, onehot, query):
        return query.flatten(1)[:, : onehot.shape[1]]


def garbage(path, size: int = 3000):
    path.write_bytes(torch.randint(0, 256, (size,), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    return str(path)


def truncated_pt2(path):
    example = (torch.zeros(2, 1, 4, 4), torch.eye(2), torch.zeros(3, 1, 4, 4))
    torch.export.save(torch.export.export(Tiny(), example), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.mark.parametrize("make, name, problem", [
    (garbage, "predictor.onnx", "not a readable .onnx predictor"),
    (truncated_pt2, "predictor.pt2", "not a readable .pt2 predictor"),
])
def test_evaluate_a_damaged_predictor_is_one_line_exit_2(tmp_path, monkeypatch, capfd, make, name, problem):
    artifact = make(tmp_path / name)
    code, err = cli(monkeypatch, capfd, "evaluate", artifact, "--data", str(tmp_path / "recipe.yaml"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {artifact}: {problem} (") and "autometa export" in err


@pytest.mark.parametrize("content", ["garbage", "a dict without the checkpoint's keys"])
def test_a_damaged_checkpoint_is_one_line_exit_2(tmp_path, monkeypatch, capfd, content):
    path = tmp_path / "checkpoint.pt"
    if content == "garbage":
        garbage(path)
    else:
        torch.save({"format": 1, "step": 3}, path)
    code, err = cli(monkeypatch, capfd, "export", str(path))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {path}: ") and "re-run training or pass another file" in err
    with pytest.raises(ArtifactError):
        load_checkpoint(path, registry=None)
