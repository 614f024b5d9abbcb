"""Decoding image files into the ``uint8 [C, H, W]`` tensors data sets keep resident.

Shared by the data set plugins that read files (Omniglot, image folders,
mini-ImageNet), so every one resizes the same way and reports an unreadable file
with its path.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from autometa.errors import DataError

#: File name endings read as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def decode_image(data: bytes | Path, *, source: str, channels: int, size: int) -> torch.Tensor:
    """Decode one image (bytes or a path) to ``uint8 [channels, size, size]`` (antialiased resize).

    ``source`` names the file in the error raised when it cannot be read.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {source}: {exc}; replace or delete the file") from None
    return pixels.view(size, size, channels).permute(2, 0, 1).contiguous()


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)
