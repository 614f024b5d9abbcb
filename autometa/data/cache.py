"""The data cache: decoded or rendered splits saved once as tensors, keyed by what made them.

Decoding thousands of image files (or rendering fonts) takes longer than a short
search; a data set plugin wraps its reading in :func:`cached` under a
:func:`cache_key` of everything its result depends on, so the next run loads one
file instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from autometa.data.dataset import SPLITS, ImageClasses, Preprocessing, SplitData
from autometa.errors import DataError


def default_cache_dir() -> Path:
    """``$AUTOMETA_CACHE``, else ``$XDG_CACHE_HOME/autometa``, else ``~/.cache/autometa``."""
    if os.environ.get("AUTOMETA_CACHE"):
        return Path(os.environ["AUTOMETA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autometa"


def cache_key(name: str, version: int, **identity) -> str:
    """A versioned cache file name, e.g. ``glyphs-v1-3f2a9c1b0d.pt``, keyed by ``identity``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{name}-v{version}-{digest}.pt"


def cached(path: Path, build: Callable[[], SplitData]) -> SplitData:
    """Load ``path`` if present, else ``build()`` and save it there atomically."""
    if path.is_file():
        try:
            stored = torch.load(path, weights_only=True)  # plain tensors, lists and numbers only
            return SplitData(
                *(ImageClasses(**stored[s]) for s in SPLITS), preprocessing=Preprocessing(**stored["preprocessing"])
            )
        except Exception:  # a truncated or stale cache file is rebuilt, not fatal
            pass
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        stored = {s: vars(data.split(s)) for s in SPLITS} | {"preprocessing": vars(data.preprocessing)}
        torch.save(stored, tmp)
        tmp.replace(path)
    except OSError as exc:
        raise DataError(f"cannot write the data cache {path} ({exc}); set data.cache_dir or $AUTOMETA_CACHE") from None
    return data
