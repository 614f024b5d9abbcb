"""Meta-SGD: MAML whose inner learning rates are meta-learned per weight."""

from __future__ import annotations

from pydantic import Field

from autometa import component_type
from autometa_plugins.learners.maml import MAML, MAMLOptions


class MetaSGDLearnerOptions(MAMLOptions):
    inner_optimizer: component_type("inner_optimizer") = Field(
        "meta_sgd", description="inner update rule plugin; meta_sgd learns a rate per weight"
    )


class MetaSGDLearner(MAML):
    """Meta-SGD: MAML with a meta-learned learning rate for every adapted weight.

    Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for Few-Shot
    Learning", 2017. The rule itself is the ``meta_sgd`` inner optimizer (any
    gradient learner can use it); this learner is MAML with it as the default.
    """

    name = "metasgd"
    Options = MetaSGDLearnerOptions
