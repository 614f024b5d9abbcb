"""MR-MAML vs MAML on non-mutually-exclusive tasks (Yin et al. 2020's memorisation setting).

Meta-training tasks are a few *fixed* groups of N classes, and each class always
gets the same label (its position in its group), so a network can solve every
training task by memorising class -> label and ignoring the support set. Test
episodes are ordinary ones on novel classes with random labels: a memorising
meta-learner collapses toward chance there; MR-MAML's KL bottleneck on its
weights is meant to prevent that.

Both learners see the same task stream (same seed); the test episodes are the
same fixed, seeded set. Accuracy on novel classes is reported with a 95% CI, and
accuracy on the training tasks shows whether memorisation happened.

    nice python benchmarks/bench_mr_maml.py --steps 150 --betas 1e-3 1e-2

Classic MAML (``head_init: learned``) is the memorising learner Yin et al.
studied; with ``--head-init zero`` every task's head starts at zero, so labels
can only come from the support set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from autometa.data import ImageClasses, Preprocessing, load_data
from autometa.episodes import TaskBatch, fixed_episodes, to_float
from autometa.evaluation import EvalResult, evaluate
from autometa.recipe import DataSection, EpisodeShape, Strategy
from autometa.trainer import build_learner, make_optimizer
from autometa_plugins.regularizers.mr_maml import DETERMINISTIC

#: The shared Omniglot small sets, read in place.
OMNIGLOT = {"omniglot": {"root": str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "omniglot")}}


class FixedLabelTasks:
    """Tasks drawn from fixed groups of ``ways`` classes, each class always with the same label."""

    def __init__(self, split: ImageClasses, shape: EpisodeShape, groups: int, preprocessing: Preprocessing, seed: int):
        self.shape, self.split, self.preprocessing = shape, split, preprocessing
        self.generator = torch.Generator().manual_seed(seed)
        need = shape.shots + shape.queries
        counts = split.images_per_class()
        usable = [c for c in range(split.num_classes) if counts[c] >= need][: groups * shape.ways]
        if len(usable) < groups * shape.ways:
            raise SystemExit(f"the train split has only {len(usable)} classes with {need} images; lower --groups")
        self.groups = torch.tensor(usable).view(groups, shape.ways)  # row g, column j: class with label j
        self.members = [torch.nonzero(split.labels == c).flatten() for c in range(split.num_classes)]

    def sample(self, batch_size: int) -> TaskBatch:
        n, k, q = self.shape.ways, self.shape.shots, self.shape.queries
        picks = torch.randint(len(self.groups), (batch_size,), generator=self.generator)
        indices = torch.stack([
            torch.stack([
                self.members[c][torch.randperm(len(self.members[c]), generator=self.generator)[: k + q]]
                for c in self.groups[g].tolist()
            ])
            for g in picks.tolist()
        ])  # [B, N, K+Q]; row j of every task is label j
        images = to_float(self.split.images[indices.flatten()], self.preprocessing).view(
            *indices.shape, *self.split.images.shape[1:]
        )
        labels = torch.arange(n)
        return TaskBatch(
            support_x=images[:, :, :k].flatten(1, 2),
            support_y=labels.repeat_interleave(k).expand(batch_size, -1),
            query_x=images[:, :, k:].flatten(1, 2),
            query_y=labels.repeat_interleave(q).expand(batch_size, -1),
            ways=n,
        )


def meta_train(strategy: Strategy, preprocessing: Preprocessing, tasks: FixedLabelTasks, steps: int, seed: int):
    torch.manual_seed(seed)
    learner = build_learner(strategy, preprocessing)
    optimizer = make_optimizer(strategy, [p for p in learner.parameters() if p.requires_grad])
    started = time.perf_counter()
    for step in range(steps):
        learner.set_training_progress(step / steps)
        optimizer.zero_grad(set_to_none=True)
        learner.meta_step(tasks.sample(strategy.meta_batch_size))
        for regularizer in learner.regularizers:
            regularizer.before_update(learner)
        optimizer.step()
    return learner, time.perf_counter() - started


def transductive_accuracy(learner, episodes) -> EvalResult:
    """Accuracy with batch-norm batch statistics, as Finn et al. evaluate MAML; stochastic layers at their mean.

    (In this build, MAML with ``head_init: learned`` predicts at chance in eval
    mode, with running statistics; see BENCHMARKS.md.)
    """
    learner.train()
    for module in learner.modules():
        if type(module) in DETERMINISTIC:
            module.eval()
    return evaluate(learner.predict, episodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=yaml.safe_load, default=OMNIGLOT, help="data set reference, as in a recipe")
    parser.add_argument("--steps", type=int, default=150, help="meta-updates per learner")
    parser.add_argument("--groups", type=int, default=4, help="fixed training tasks (groups of N classes)")
    parser.add_argument("--head-init", default="learned",
                        help="MAML head init: 'learned' (classic MAML, can memorise) or 'zero'")
    parser.add_argument("--betas", type=float, nargs="*", default=[1e-3], help="MR-MAML KL weights to run")
    parser.add_argument("--inner-lr", type=float, default=0.1)
    parser.add_argument("--test-episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_data(DataSection(dataset=args.data))
    shape = EpisodeShape(ways=5, shots=1, queries=5)
    test = fixed_episodes(data.test, shape, args.test_episodes, seed=args.seed, preprocessing=data.preprocessing,
                          split_name="test")
    torch.set_num_threads(1)  # the benchmark machine's 2 cores are shared
    maml = {"maml": {"inner_steps": 1, "inner_lr": args.inner_lr, "head_init": args.head_init}}
    base = dict(learner=maml, backbone={"conv4": {"width": 32}}, train_episodes=shape, meta_batch_size=4,
                outer_lr=1e-3)
    runs = {"maml": Strategy(**base)}
    for beta in args.betas:
        runs[f"mr_maml beta={beta:g}"] = Strategy(**base, regularizers=[{"mr_maml": {"beta": beta}}])

    results = {}
    for name, strategy in runs.items():
        tasks = FixedLabelTasks(data.train, shape, args.groups, data.preprocessing, seed=args.seed)
        learner, seconds = meta_train(strategy, data.preprocessing, tasks, args.steps, args.seed)
        novel = transductive_accuracy(learner, test)
        training_tasks = tasks.sample(50)
        seen = transductive_accuracy(learner, [training_tasks.episode(i) for i in range(50)])
        results[name] = {"novel": novel.as_dict() | {"per_episode": None}, "train_tasks": seen.mean,
                         "train_seconds": round(seconds, 1)}
        print(f"{name:22s} novel classes {novel.mean:.3f} +- {novel.ci95:.3f}   "
              f"training tasks {seen.mean:.3f}   ({seconds:.0f} s)", flush=True)
    print(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
