"""Experience: what earlier searches learned, kept in a store and used to warm-start new searches.

:mod:`~autometa.experience.metafeatures` describes a search's data and episodes
comparably, :mod:`~autometa.experience.store` keeps every finished search,
:mod:`~autometa.experience.adaptation` carries a strategy from one search space to
another, :mod:`~autometa.experience.warm_start` picks and queues the strategies of
the nearest earlier searches, and :mod:`~autometa.experience.prior` lets the
sampler start from their observations. See docs/search.md, "Warm start".

Names load on first use, so ``autometa experience list`` reads the store without
importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_PUBLIC: dict[str, str] = {
    "meta_features": "autometa.experience.metafeatures",
    "meta_distance": "autometa.experience.metafeatures",
    "DISTANCE_UNITS": "autometa.experience.metafeatures",
    "ExperienceStore": "autometa.experience.store",
    "SearchRecord": "autometa.experience.store",
    "TrialRecord": "autometa.experience.store",
    "TRANSFERRED_FROM": "autometa.experience.store",
    "default_location": "autometa.experience.store",
    "SearchSpace": "autometa.experience.adaptation",
    "Adapted": "autometa.experience.adaptation",
    "AUTO_SOURCES": "autometa.experience.warm_start",
    "WARM_START_ATTR": "autometa.experience.warm_start",
    "Source": "autometa.experience.warm_start",
    "WarmStart": "autometa.experience.warm_start",
    "nearest": "autometa.experience.warm_start",
    "plan_warm_start": "autometa.experience.warm_start",
    "enqueue": "autometa.experience.warm_start",
    "prior_observations": "autometa.experience.warm_start",
    "PriorSampler": "autometa.experience.prior",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'autometa.experience' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
