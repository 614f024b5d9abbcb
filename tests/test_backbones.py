"""Backbones: registered, shape-correct for grayscale and RGB at any size, options honoured."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from autometa.plugins import default_host


def build(ref, channels: int, size: int):
    return default_host().registry.create("backbone", ref, in_channels=channels, image_size=size)


@pytest.mark.parametrize(
    "ref",
    [
        {"conv4": {"width": 8}},
        {"conv4": {"width": 8, "downsample": "stride"}},
        {"conv4": {"width": 8, "depth": 6}},
        {"resnet12": {"width": 4}},
    ],
    ids=["conv4-pool", "conv4-stride", "conv4-deep", "resnet12"],
)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 84])
def test_output_is_batch_by_out_features(ref, channels, size):
    backbone = build(ref, channels, size)
    features = backbone(torch.randn(2, channels, size, size))
    assert features.shape == (2, backbone.out_features)


def test_conv4_out_features_follow_the_standard_sizes():
    assert build("conv4", 1, 28).out_features == 64  # 28 -> 14 -> 7 -> 3 -> 1
    assert build("conv4", 3, 84).out_features == 64 * 5 * 5  # 84 -> 42 -> 21 -> 10 -> 5
    assert build({"conv4": {"downsample": "stride"}}, 3, 84).out_features == 64 * 6 * 6  # 84 -> 42 -> 21 -> 11 -> 6
    assert build({"conv4": {"width": 32, "depth": 2}}, 1, 28).out_features == 32 * 7 * 7


def test_conv4_depth_and_width_change_the_network():
    shallow = build({"conv4": {"width": 8, "depth": 2}}, 1, 28)
    deep = build({"conv4": {"width": 16, "depth": 5}}, 1, 28)
    convs = lambda net: [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]  # noqa: E731
    assert len(convs(shallow)) == 2 and len(convs(deep)) == 5
    assert {c.out_channels for c in convs(deep)} == {16}
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in deep.modules())


def test_conv4_strided_uses_no_pooling():
    net = build({"conv4": {"downsample": "stride"}}, 1, 28)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert all(c.stride == (2, 2) for c in net.modules() if isinstance(c, torch.nn.Conv2d))


def test_resnet12_has_the_standard_channels():
    net = build("resnet12", 3, 84)
    assert net.out_features == 640
    stages = [block.shortcut[0].out_channels for block in net.features if hasattr(block, "shortcut")]
    assert stages == [64, 160, 320, 640]


def test_invalid_options_are_rejected():
    with pytest.raises(ValidationError):
        build({"conv4": {"downsample": "avg"}}, 1, 28)
    with pytest.raises(ValidationError):
        build({"conv4": {"widht": 8}}, 1, 28)


@pytest.mark.parametrize("ref", [{"conv4": {"width": 16}}, {"conv4": {"width": 16, "downsample": "stride"}}, {"resnet12": {"width": 8}}])
def test_structured_pruning_halves_the_channels_and_keeps_the_output(ref):
    import torch_pruning as tp

    backbone = build(ref, 1, 28).eval()
    images = torch.randn(2, 1, 28, 28)
    last = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    before = sum(p.numel() for p in backbone.parameters())
    tp.pruner.MetaPruner(
        backbone, example_inputs=images, importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=0.5, ignored_layers=[last],
    ).step()
    assert sum(p.numel() for p in backbone.parameters()) < 0.5 * before
    assert backbone(images).shape == (2, backbone.out_features)
