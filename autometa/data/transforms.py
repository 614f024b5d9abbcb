"""Image transforms declared in a recipe's ``data.transforms``: resize, normalize, augment.

Everything works on whole batches of tensors (no per-image Python loop), so the
episode sampler can augment a task batch on the training device in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: Augmentations a recipe may list (``data.transforms.augment``).
AUGMENTATIONS = ("flip", "crop", "jitter")

_CHUNK = 4096  # images per resize step: bounds the float copy's memory


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``uint8 [M, C, H, W]`` images to ``size x size`` (antialiased), still ``uint8``."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((*images.shape[:2], size, size), dtype=torch.uint8, device=images.device)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].float()
        scaled = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + _CHUNK] = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return out


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``uint8 [M, C, H, W]`` images scaled to [0, 1]."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64).div_(255)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(images.numel() // channels, 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(images - mean) / std`` per channel (dim -3); unchanged when no statistics are given."""
    if not mean:
        return images
    shape = (-1, 1, 1)
    mean_t = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    std_t = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images - mean_t) / std_t


def augment(images: torch.Tensor, names: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Randomly augment float ``[M, C, H, W]`` images in [0, 1], each image independently.

    ``flip``: horizontal flip with probability 1/2; ``crop``: random translation by up
    to 1/8 of the size (edges repeated, like a padded random crop); ``jitter``:
    brightness and contrast scaled by up to +-20%.
    """
    unknown = set(names) - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; known: {AUGMENTATIONS}")
    m, device = len(images), images.device

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=device)

    if "flip" in names:
        flip = (uniform(m) < 0.5).view(-1, 1, 1, 1)
        images = torch.where(flip, images.flip(-1), images)
    if "crop" in names:
        theta = torch.zeros(m, 2, 3, device=device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = (uniform(m, 2) * 2 - 1) * 0.25  # 1/8 of the size, in [-1, 1] units
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if "jitter" in names:
        brightness = 1 + (uniform(m, 1, 1, 1) * 2 - 1) * 0.2
        contrast = 1 + (uniform(m, 1, 1, 1) * 2 - 1) * 0.2
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = ((images - mean) * contrast + mean) * brightness
    return images.clamp(0, 1)
