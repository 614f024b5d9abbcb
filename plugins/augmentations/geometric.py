"""Geometric augmentations: every one is a resampling of the image on a warped grid.

``flip`` and ``crop`` suit photographs (a mirrored character is another
character). ``affine`` and ``elastic`` suit handwriting: Koch et al. (2015)
trained their Omniglot Siamese networks on random affine distortions (rotation,
shear, per-axis scale, translation) and Simard et al. (2003) introduced elastic
distortions (a smooth random displacement field) for handwritten digits.
Resampling is bilinear with the border pixels repeated (paper-white stays
white); the settings of every image are a plain tensor, so a predictor can apply
stored settings after export (``grid_sample`` is ONNX's GridSample).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from autometa import Augmentation, AugmentationOptions, uniform


def warp(images: Tensor, grid: Tensor) -> Tensor:
    """Sample ``images [M, C, H, W]`` at ``grid [M, H, W, 2]`` (coordinates in [-1, 1], x first)."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def affine_grid(theta: Tensor, images: Tensor) -> Tensor:
    """The sampling grid of ``theta [M, 2, 3]`` (output -> input coordinates) for ``images``."""
    return F.affine_grid(theta, [images.shape[0], images.shape[1], images.shape[2], images.shape[3]], align_corners=False)


def linear_resize(source: int, size: int, like: Tensor) -> Tensor:
    """``[size, source]`` weights of linear interpolation with aligned corners (one axis of bilinear
    upsampling). A matrix, not ``F.interpolate``: its kernel reads the batch size, which is free
    in an exported predictor."""
    position = torch.linspace(0, source - 1, size, dtype=like.dtype, device=like.device)
    low = position.floor().clamp(max=source - 2).long() if source > 1 else position.long()
    weight = position - low.to(like.dtype)
    matrix = torch.zeros(size, source, dtype=like.dtype, device=like.device)
    matrix[torch.arange(size), low] = 1 - weight
    if source > 1:
        matrix[torch.arange(size), low + 1] += weight
    return matrix


def translation_theta(shift: Tensor) -> Tensor:
    """``[M, 6]`` affine settings of a pure translation by ``shift [M, 2]`` (in [-1, 1] units)."""
    ones, zeros = torch.ones_like(shift[:, :1]), torch.zeros_like(shift[:, :1])
    return torch.cat([ones, zeros, shift[:, :1], zeros, ones, shift[:, 1:]], dim=1)


class Flip(Augmentation):
    """Horizontal flip of half the images (photographs; not for writing)."""

    name = "flip"

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        return (uniform(count, 0, 1, generator) < 0.5).float()

    def apply(self, images: Tensor, settings: Tensor) -> Tensor:
        return torch.where(settings.view(-1, 1, 1, 1) > 0.5, images.flip(-1), images)


class CropOptions(AugmentationOptions):
    fraction: float = Field(0.125, ge=0, le=0.5, description="largest shift, as a fraction of the image side")


class Crop(Augmentation):
    """Random translation by up to 1/8 of the side, edges repeated (a padded random crop)."""

    name = "crop"
    Options = CropOptions

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        return translation_theta(uniform(count, -2 * self.options.fraction, 2 * self.options.fraction, generator, 2))

    def apply(self, images: Tensor, settings: Tensor) -> Tensor:
        return warp(images, affine_grid(settings.view(-1, 2, 3), images))


class AffineOptions(AugmentationOptions):
    rotation: float = Field(10.0, ge=0, le=180, description="largest rotation, degrees either way")
    shear: float = Field(10.0, ge=0, le=60, description="largest horizontal shear, degrees either way")
    scale_min: float = Field(0.8, gt=0, le=1, description="smallest scale of each axis")
    scale_max: float = Field(1.2, ge=1, description="largest scale of each axis")
    translate: float = Field(0.1, ge=0, le=0.5, description="largest shift, as a fraction of the image side")


class Affine(Augmentation):
    """Random affine distortion: rotation, shear, per-axis scale and translation (Koch et al. 2015)."""

    name = "affine"
    Options = AffineOptions

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        o = self.options
        angle = uniform(count, -o.rotation, o.rotation, generator) * (math.pi / 180)
        shear = torch.tan(uniform(count, -o.shear, o.shear, generator) * (math.pi / 180))
        scale = torch.exp(uniform(count, math.log(o.scale_min), math.log(o.scale_max), generator, 2))
        shift = uniform(count, -2 * o.translate, 2 * o.translate, generator, 2)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # sampling matrix (output -> input) = rotation @ shear @ diag(1 / scale): a larger scale draws larger
        a, b = cos / scale[:, :1], (cos * shear - sin) / scale[:, 1:]
        c, d = sin / scale[:, :1], (sin * shear + cos) / scale[:, 1:]
        return torch.cat([a, b, shift[:, :1], c, d, shift[:, 1:]], dim=1)

    def apply(self, images: Tensor, settings: Tensor) -> Tensor:
        return warp(images, affine_grid(settings.view(-1, 2, 3), images))


class ElasticOptions(AugmentationOptions):
    magnitude: float = Field(0.05, ge=0, le=0.5, description="std of the displacements, as a fraction of the half side")
    grid: int = Field(5, ge=2, le=32, description="control points per side of the smooth displacement field")


class Elastic(Augmentation):
    """Elastic distortion: a smooth random displacement field (Simard et al. 2003)."""

    name = "elastic"
    Options = ElasticOptions

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        g = self.options.grid
        noise = torch.randn(count, 2 * g * g, generator=generator, device=generator.device)
        return noise * self.options.magnitude

    def apply(self, images: Tensor, settings: Tensor) -> Tensor:
        g = self.options.grid
        coarse = settings.unflatten(1, (2, g, g))  # no -1: the count is a free size in an exported file
        rows, columns = linear_resize(g, images.shape[2], coarse), linear_resize(g, images.shape[3], coarse)
        field = torch.einsum("hg,ncgk,wk->nchw", rows, coarse, columns)  # bilinear upsampling, align_corners=True
        identity = translation_theta(torch.zeros_like(settings[:, :2])).unflatten(1, (2, 3))
        return warp(images, affine_grid(identity, images) + field.permute(0, 2, 3, 1))
