"""MAML: meta-learn an initialisation from which a few gradient steps fit any task."""

from __future__ import annotations

from pydantic import Field

from autometa import GradientLearner, GradientLearnerOptions


class MAMLOptions(GradientLearnerOptions):
    first_order: bool = Field(
        False, description="first-order meta-gradients (FOMAML): ignore second derivatives, faster, less memory"
    )
    first_order_until: float = Field(
        0.0, ge=0.0, le=1.0,
        description="MAML++ annealing: first-order for this fraction of training, second-order after it",
    )


class MAML(GradientLearner):
    """MAML: backpropagate the query loss through inner gradient steps on the whole network.

    Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of
    Deep Networks", ICML 2017. ``first_order`` drops the second-derivative terms
    (FOMAML); ``first_order_until`` uses first order early in training and exact
    second order after it, as Antoniou et al. (MAML++, ICLR 2019) anneal.
    """

    name = "maml"
    Options = MAMLOptions

    def first_order(self) -> bool:
        return self.options.first_order or self.training_progress < self.options.first_order_until
