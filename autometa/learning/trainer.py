"""Meta-training of one candidate strategy, scored on fixed validation episodes.

:func:`train` is the loop the search calls once per trial and ``autometa train``
calls once: it builds the learner from the strategy (at the strategy's input
size, with its augmentations), runs the strategy's stages in order (whole-class
pretraining, :mod:`autometa.learning.pretraining`, for the first
``strategy.pretrain.steps`` of the ``training.meta_steps`` steps, then
meta-training with the outer optimizer and schedule the strategy names),
reports progress and validation scores through callbacks, checkpoints and
resumes, and stops with a :class:`~autometa.errors.TrainingError` when the loss
or meta-gradient stops being finite. On the CPU a run is deterministic for
the recipe's seed, and a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from autometa.components.registry import Registry
from autometa.data.augmentation import Augmentation
from autometa.data.dataset import Preprocessing, SplitData
from autometa.data.episodes import EpisodeSampler
from autometa.data.loading import at_size, load_data
from autometa.errors import TrainingError
from autometa.learning.checkpoint import CHECKPOINT_NAME, read_checkpoint, rng_state, set_rng_state, write_checkpoint
from autometa.learning.device import autocast, select_device
from autometa.learning.evaluation import EvalResult, evaluate_learner, split_episodes
from autometa.learning.learner import MetaLearner, build_learner
from autometa.learning.optimization import build_optimizer, build_schedule
from autometa.learning.pretraining import Pretraining
from autometa.recipe.schema import Recipe, Strategy

ProgressCallback = Callable[[int, int, dict], None]
ValidationCallback = Callable[[int, EvalResult], None]


@dataclass
class TrainResult:
    """The outcome of :func:`train`: the final validation score and the trained learner."""

    val: EvalResult
    steps: int
    tasks_per_second: float
    checkpoint: Path | None
    learner: MetaLearner
    device: torch.device
    preprocessing: Preprocessing  # what the learner's input must be (the strategy's image size)


class StoppedAtDeadline(Exception):
    """Training reached its deadline before its last step; the checkpoint (with a ``workdir``) is saved."""

    def __init__(self, step: int, total: int):
        super().__init__(f"stopped at step {step} of {total}")
        self.step, self.total = step, total


@dataclass
class TrainReport:
    """What ``autometa train`` reports: the training result and the test score."""

    result: TrainResult
    test: EvalResult
    workdir: Path


def make_optimizer(strategy: Strategy, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The outer optimizer; ``sgd`` uses Nesterov momentum 0.9 (plain SGD rarely meta-trains well)."""
    return build_optimizer(strategy.outer_optimizer, parameters, strategy.outer_lr)


def make_schedule(strategy: Strategy, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """``constant``, or ``cosine`` annealing from ``outer_lr`` to 0 over the run."""
    return build_schedule(strategy.lr_schedule, optimizer, total_steps)


def build_augmentations(recipe: Recipe, strategy: Strategy, registry: Registry) -> list[Augmentation]:
    """The meta-train augmentations: ``data.transforms.augment`` (every candidate), then ``strategy.augment``."""
    return [registry.create("augmentation", ref) for ref in [*recipe.data.transforms.augment, *strategy.augment]]


def train(
    recipe: Recipe,
    strategy: Strategy,
    data: SplitData,
    registry: Registry,
    *,
    workdir: Path | None = None,
    on_progress: ProgressCallback | None = None,
    on_validation: ValidationCallback | None = None,
    device: str | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train ``strategy`` (built from ``registry``'s plugins) for ``recipe.training.meta_steps``
    steps and score it on the validation episodes: the first ``strategy.pretrain.steps``
    are whole-class pretraining, the rest meta-updates.

    ``data`` is stored at the recipe's size; the strategy's ``image_size`` is applied
    here. ``on_progress(step, total, {"loss", "accuracy", "lr", "grad_norm"})`` is
    called after every step; ``on_validation(step, result)`` every ``eval_every``
    steps and at the end. It may raise (e.g. ``optuna.TrialPruned``): the
    checkpoint is saved first. With a ``workdir``, ``workdir/checkpoint.pt`` is
    written every ``checkpoint_every`` steps, at each validation and at the end,
    and a later call resumes from it. Once ``time.monotonic()`` passes ``deadline``
    with steps left, the checkpoint is saved and :class:`StoppedAtDeadline` raised.
    """
    training = recipe.training
    sized = at_size(data, strategy.image_size)
    val_episodes = split_episodes(recipe, sized, "val")
    torch_device = select_device(device or recipe.device)
    torch.manual_seed(recipe.seed)
    random.seed(recipe.seed)
    learner = build_learner(strategy, sized.preprocessing, registry).to(torch_device)
    run = _Run(recipe, strategy, data, sized.preprocessing, learner, torch_device, build_augmentations(recipe, strategy, registry))
    path = workdir / CHECKPOINT_NAME if workdir is not None else None
    if path is not None and path.is_file():
        run.resume(path)

    last_val: EvalResult | None = None
    meta_seconds = 0.0  # the meta-steps' time, for tasks per second
    first_meta_step = max(run.step, strategy.pretrain.steps)
    total = training.meta_steps
    while run.step < total:
        started = time.perf_counter()
        meta_step = run.step >= strategy.pretrain.steps
        metrics = run.update()
        if meta_step:
            meta_seconds += time.perf_counter() - started
        if on_progress is not None:
            on_progress(run.step, total, metrics)
        validate = run.step % training.eval_every == 0 or run.step == total
        if validate:
            last_val = evaluate_learner(run.learner, val_episodes, torch_device)
        stop = deadline is not None and time.monotonic() >= deadline and run.step < total
        if path is not None and (validate or stop or run.step % training.checkpoint_every == 0):
            run.save(path)
        if validate and on_validation is not None:
            on_validation(run.step, last_val)
        if stop:
            raise StoppedAtDeadline(run.step, total)
    if last_val is None:  # resumed from a finished run, or nothing to train
        last_val = evaluate_learner(run.learner, val_episodes, torch_device)
    tasks = max(run.step - first_meta_step, 0) * strategy.meta_batch_size
    return TrainResult(
        val=last_val,
        steps=run.step,
        tasks_per_second=tasks / meta_seconds if meta_seconds > 0 else 0.0,
        checkpoint=path,
        learner=run.learner,
        device=torch_device,
        preprocessing=sized.preprocessing,
    )


def train_recipe(
    recipe: Recipe,
    registry: Registry,
    *,
    workdir: Path | None = None,
    device: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> TrainReport:
    """Train the recipe's fixed strategy, then score it on the test episodes (``autometa train``).

    ``registry`` holds the plugins the recipe names (the plugin host's registry).
    ``workdir`` defaults to ``<output_dir>/<name>/train``; it receives the
    checkpoint and ``metrics.json`` (validation and test scores, throughput).
    """
    strategy = recipe.fixed_strategy()
    data = load_data(recipe.data, registry)
    test_episodes = split_episodes(recipe, at_size(data, strategy.image_size), "test")  # a bad shape fails now
    workdir = workdir or recipe.output_dir / recipe.name / "train"
    result = train(recipe, strategy, data, registry, workdir=workdir, on_progress=on_progress, device=device)
    test = evaluate_learner(result.learner, test_episodes, result.device)
    metrics = {
        "val": result.val.as_dict(),
        "test": test.as_dict(),
        "steps": result.steps,
        "tasks_per_second": result.tasks_per_second,
    }
    (workdir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return TrainReport(result=result, test=test, workdir=workdir)


class _Run:
    """One training run's moving parts: its stages' updates, and what a checkpoint saves and restores."""

    def __init__(
        self, recipe: Recipe, strategy: Strategy, data: SplitData, preprocessing: Preprocessing,
        learner: MetaLearner, device: torch.device, augment: list[Augmentation],
    ):
        self.recipe, self.strategy, self.preprocessing = recipe, strategy, preprocessing
        self.learner, self.device = learner, device
        self.parameters = [p for p in learner.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(strategy, self.parameters)
        self.meta_steps = recipe.training.meta_steps - strategy.pretrain.steps  # after pretraining
        self.schedule = make_schedule(strategy, self.optimizer, self.meta_steps)
        self.sampler = EpisodeSampler(
            data.train, strategy.train_episodes, preprocessing=preprocessing, seed=recipe.seed, device=device,
            augment=augment,
        )
        self.pretraining = Pretraining(
            strategy.pretrain, learner.backbone, data.train, preprocessing=preprocessing, seed=recipe.seed,
            device=device, augment=augment,
        ) if strategy.pretrain.steps else None
        self.step = 0

    def update(self) -> dict[str, float]:
        """One step of the current stage: pretraining first, then meta-training."""
        if self.pretraining is not None and self.step < self.strategy.pretrain.steps:
            metrics = self.pretraining.update(self.step, self.recipe.training.amp)
            self.step += 1
            return metrics
        return self.meta_update()

    def meta_update(self) -> dict[str, float]:
        """Sample tasks, accumulate the meta-gradient, check it, clip it, step."""
        strategy, training = self.strategy, self.recipe.training
        self.learner.train()
        self.learner.set_training_progress((self.step - strategy.pretrain.steps) / self.meta_steps)
        batch = self.sampler.sample(strategy.meta_batch_size)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, training.amp):
            output = self.learner.meta_step(batch)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, strategy.grad_clip or math.inf)
        if not math.isfinite(output.loss) or not torch.isfinite(grad_norm):
            what, value = ("meta-loss", output.loss) if not math.isfinite(output.loss) else ("meta-gradient norm", grad_norm.item())
            raise TrainingError(
                f"step {self.step + 1}: the {what} is {value}; the learning rate is likely too high "
                f"(outer_lr {strategy.outer_lr}, or the learner's inner_lr): lower it or set strategy.grad_clip"
            )
        for regularizer in self.learner.regularizers:
            regularizer.before_update(self.learner)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        return {"loss": output.loss, "accuracy": output.accuracy, "lr": lr, "grad_norm": grad_norm.item()}

    def save(self, path: Path) -> None:
        payload = {
            "step": self.step,
            "learner": self.learner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sampler": self.sampler.state_dict(),
            "pretraining": self.pretraining.state_dict() if self.pretraining is not None else None,
            "rng": rng_state(),
            "strategy": self.strategy.model_dump(mode="json"),
            "recipe": self.recipe.model_dump(mode="json"),
            "preprocessing": asdict(self.preprocessing),
        }
        write_checkpoint(path, payload)

    def resume(self, path: Path) -> None:
        payload = read_checkpoint(path)
        if payload["strategy"] != self.strategy.model_dump(mode="json") or payload["recipe"]["seed"] != self.recipe.seed:
            raise TrainingError(
                f"{path} holds a checkpoint of another strategy or seed; "
                "train into another directory (--out) or delete it"
            )
        self.learner.load_state_dict(payload["learner"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.schedule.load_state_dict(payload["schedule"])
        self.sampler.load_state_dict(payload["sampler"])
        if self.pretraining is not None:
            self.pretraining.load_state_dict(payload["pretraining"])
        set_rng_state(payload["rng"])
        self.step = payload["step"]


