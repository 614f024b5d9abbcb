"""Learning: the backbone, learner, inner-loop and regularizer contracts, pretraining, the trainer and evaluation."""

from autometa.learning.adaptation_predictor import AdaptationPredictor
from autometa.learning.backbone import Backbone
from autometa.learning.checkpoint import CHECKPOINT_NAME, Checkpoint, load_checkpoint, read_checkpoint
from autometa.learning.device import autocast, select_device
from autometa.learning.embedding import EmbeddingLearner, EmbeddingPredictor, full_precision
from autometa.learning.evaluation import EvalResult, evaluate, evaluate_learner, evaluate_predictor, split_episodes
from autometa.learning.gradient import GradientLearner, GradientLearnerOptions, PerStepBatchNorm, use_batch_statistics
from autometa.learning.inner_loop import InnerOptimizer, Params, inner_loop
from autometa.learning.learner import MetaLearner, StepOutput, build_learner
from autometa.learning.regularizer import Regularizer
from autometa.learning.pretraining import Pretraining, WholeClassClassifier
from autometa.learning.trainer import (
    StoppedAtDeadline,
    TrainReport,
    TrainResult,
    make_optimizer,
    make_schedule,
    train,
    train_recipe,
)

__all__ = [
    "Backbone",
    "CHECKPOINT_NAME",
    "Checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "autocast",
    "select_device",
    "EmbeddingLearner",
    "EmbeddingPredictor",
    "full_precision",
    "EvalResult",
    "evaluate",
    "evaluate_learner",
    "evaluate_predictor",
    "split_episodes",
    "GradientLearner",
    "GradientLearnerOptions",
    "PerStepBatchNorm",
    "use_batch_statistics",
    "AdaptationPredictor",
    "InnerOptimizer",
    "Params",
    "inner_loop",
    "MetaLearner",
    "StepOutput",
    "build_learner",
    "Regularizer",
    "Pretraining",
    "WholeClassClassifier",
    "StoppedAtDeadline",
    "TrainReport",
    "TrainResult",
    "make_optimizer",
    "make_schedule",
    "train",
    "train_recipe",
]
