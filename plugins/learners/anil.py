"""ANIL: adapt only the head in the inner loop; the body is meta-learned, never adapted."""

from __future__ import annotations

from pydantic import Field

from autometa import GradientLearner, GradientLearnerOptions


class ANILOptions(GradientLearnerOptions):
    first_order: bool = Field(False, description="first-order meta-gradients (ignore second derivatives)")


class ANIL(GradientLearner):
    """ANIL (Almost No Inner Loop): inner gradient steps on the linear head only, over fixed features.

    Raghu, Raghu, Bengio & Vinyals, "Rapid Learning or Feature Reuse?", ICLR 2020.
    Features are computed once per task, so the inner loop is cheap; the body
    still learns from the query loss in the outer loop. Its exported predictor
    performs exactly the same computation as ``predict``.
    """

    name = "anil"
    Options = ANILOptions
    adapts_body = False
    supports_per_step_bn = False

    def first_order(self) -> bool:
        return self.options.first_order
