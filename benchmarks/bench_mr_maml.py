"""MR-MAML vs MAML on non-mutually-exclusive Omniglot tasks (Yin et al. 2020's memorisation setting).

The meta-training characters are dealt once, at random, into N bins, one per
label. A training task draws one character from every bin, and a character
always carries its bin's label: the class-to-label assignment is the same in
every task, so one network can solve all of them without looking at the
support set (it learns "character -> bin" like an ordinary classifier). This is
the construction of Yin et al.'s code (``x_train[bin, class, image]``, a class
picked per bin for each task). Test episodes are ordinary ones on novel
characters with random labels: a meta-learner that memorised the assignment
instead of learning to adapt collapses toward chance there.

Each run reports, with 95% CIs:

* accuracy on novel classes (the meta-test split, ordinary episodes);
* on training-style tasks whose support labels were re-dealt at random, how
  often the prediction follows the *support* labels (adaptation) and how often
  it follows the *memorised* bin labels (memorisation).

Runs (plain MAML, the shuffled-label control, then MR-MAML for every
``--layer-sets`` x ``--betas`` x ``--modes``) share the seed, the task stream and
the test episodes, and run in parallel processes (``--jobs``), one torch thread
each. By default every training character is dealt into the bins (9 per bin with
the omniglot data set's default split).

    nice python benchmarks/bench_mr_maml.py --control --layer-sets head 'backbone.*' --betas 1e-4 1e-3 1e-2 --jobs 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import yaml
from shared_data import OMNIGLOT_ROOT

from autometa.data import Episode, EpisodeSampler, ImageClasses, Preprocessing, fixed_episodes, load_data
from autometa.learning import EvalResult, build_learner, evaluate_learner, make_optimizer
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape, Strategy

#: The shared Omniglot small sets, read in place.
OMNIGLOT = {"omniglot": {"root": str(OMNIGLOT_ROOT)}}


class BinnedTasks(EpisodeSampler):
    """Non-mutually-exclusive tasks: label ``j`` is always a character from bin ``j``.

    ``shuffled`` deals the labels anew for every task instead (ordinary,
    mutually-exclusive tasks over the same characters): the control run.
    Batches are built by :class:`EpisodeSampler`; only the task draw differs.
    """

    def __init__(self, split: ImageClasses, shape: EpisodeShape, preprocessing: Preprocessing, seed: int,
                 per_bin: int | None = None, shuffled: bool = False):
        super().__init__(split, shape, preprocessing=preprocessing, seed=seed)
        self.shuffled = shuffled
        self.generator = torch.Generator().manual_seed(seed)
        need = shape.shots + shape.queries
        usable = torch.nonzero(split.images_per_class() >= need).flatten()
        usable = usable[torch.randperm(len(usable), generator=self.generator)]
        per_bin = min(per_bin or len(usable), len(usable) // shape.ways)
        self.bins = usable[: per_bin * shape.ways].view(shape.ways, per_bin)  # bins[j]: the characters labelled j
        self.members = [torch.nonzero(split.labels == c).flatten() for c in range(split.num_classes)]

    def draw_indices(self, batch_size: int) -> torch.Tensor:
        n, need = self.shape.ways, self.shape.shots + self.shape.queries
        picks = torch.randint(self.bins.shape[1], (batch_size, n), generator=self.generator)
        indices = torch.stack([
            torch.stack([
                self.members[c][torch.randperm(len(self.members[c]), generator=self.generator)[:need]]
                for c in self.bins[torch.arange(n), row].tolist()
            ])
            for row in picks
        ])  # [B, N, K+Q]; row j of every task is a character of bin j
        if self.shuffled:  # the mutually-exclusive control: the same characters, labels dealt anew per task
            indices = torch.stack([task[torch.randperm(n, generator=self.generator)] for task in indices])
        return indices


def memorisation_probe(learner, tasks: BinnedTasks, count: int, seed: int) -> tuple[EvalResult, EvalResult]:
    """Training-style tasks with the support labels re-dealt: (follows support, follows memorised bins)."""
    generator = torch.Generator().manual_seed(seed)
    batch = tasks.sample(count)
    relabelled = []
    for i in range(count):
        permutation = torch.randperm(batch.ways, generator=generator)
        while bool((permutation == torch.arange(batch.ways)).any()):  # every label really moves
            permutation = torch.randperm(batch.ways, generator=generator)
        episode = batch.episode(i)
        relabelled.append(Episode(episode.support_x, permutation[episode.support_y], episode.query_x,
                                  permutation[episode.query_y], episode.ways))
    follows_support = evaluate_learner(learner, relabelled)
    memorised = [Episode(e.support_x, e.support_y, e.query_x, batch.episode(i).query_y, e.ways)
                 for i, e in enumerate(relabelled)]
    follows_bins = evaluate_learner(learner, memorised)
    return follows_support, follows_bins


def run(name: str, strategy: Strategy, shuffled: bool, args: argparse.Namespace) -> dict:
    """Meta-train one learner on the binned tasks and score it (runs in its own process)."""
    torch.set_num_threads(1)  # the benchmark machine's 2 cores run one learner each
    data = load_data(DataSection(dataset=args.data), default_host().registry)
    shape = strategy.train_episodes
    test_shape = EpisodeShape(ways=shape.ways, shots=shape.shots, queries=args.test_queries)
    test = fixed_episodes(data.test, test_shape, args.test_episodes, seed=args.seed,
                          preprocessing=data.preprocessing, split_name="test")
    watch = test[: args.watch_episodes]
    tasks = BinnedTasks(data.train, shape, data.preprocessing, seed=args.seed, per_bin=args.per_bin,
                        shuffled=shuffled)

    torch.manual_seed(args.seed)
    learner = build_learner(strategy, data.preprocessing, default_host().registry)
    optimizer = make_optimizer(strategy, [p for p in learner.parameters() if p.requires_grad])
    started, curve, train_accuracy = time.perf_counter(), [], []
    for step in range(1, args.steps + 1):
        learner.train()
        learner.set_training_progress((step - 1) / args.steps)  # as the trainer: 0 at the first step
        optimizer.zero_grad(set_to_none=True)
        output = learner.meta_step(tasks.sample(strategy.meta_batch_size))
        for regularizer in learner.regularizers:
            regularizer.before_update(learner)
        optimizer.step()
        train_accuracy.append(output.accuracy)
        if step % args.log_every == 0 or step == args.steps:
            novel = evaluate_learner(learner, watch).mean
            seen = sum(train_accuracy[-args.log_every:]) / len(train_accuracy[-args.log_every:])
            curve.append({"step": step, "train_tasks": round(seen, 4), "novel": round(novel, 4),
                          "seconds": round(time.perf_counter() - started)})
            print(f"[{name}] step {step}: training tasks {seen:.3f}, novel classes ({len(watch)} episodes) "
                  f"{novel:.3f}, {time.perf_counter() - started:.0f} s", flush=True)
    seconds = time.perf_counter() - started
    novel = evaluate_learner(learner, test)
    fixed_labels = BinnedTasks(data.train, shape, data.preprocessing, seed=args.seed, per_bin=args.per_bin)
    follows_support, follows_bins = memorisation_probe(learner, fixed_labels, args.probe_tasks, seed=args.seed + 1)
    return {"name": name, "novel": novel.as_dict() | {"per_episode": None},
            "follows_support": follows_support.as_dict() | {"per_episode": None},
            "follows_bins": follows_bins.as_dict() | {"per_episode": None},
            "train_seconds": round(seconds), "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=yaml.safe_load, default=OMNIGLOT, help="data set reference, as in a recipe")
    parser.add_argument("--ways", type=int, default=20)
    parser.add_argument("--per-bin", type=int, default=0,
                        help="training characters per label bin (0: all of them, dealt evenly)")
    parser.add_argument("--steps", type=int, default=2000, help="meta-updates per learner")
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--head-init", choices=["learned", "zero"], default="learned",
                        help="'learned': classic MAML (the head init can memorise too); 'zero': autometa's default")
    parser.add_argument("--outer-lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=32, help="conv4 width")
    parser.add_argument("--betas", type=float, nargs="*", default=[1e-3], help="MR-MAML KL weights to run")
    parser.add_argument("--layer-sets", nargs="+", default=["head"],
                        help="MR-MAML variants by stochastic layers: '+'-joined glob patterns over module names, e.g. "
                        "'head' (the learned head init), 'backbone.*', 'head+backbone.*'")
    parser.add_argument("--init-std", type=float, default=0.05, help="MR-MAML initial posterior std")
    parser.add_argument("--modes", nargs="+", default=["meta_only"], choices=["meta_only", "adapted"],
                        help="MR-MAML's stochastic layers: meta-parameters only (the paper) and/or adapted too")
    parser.add_argument("--prior-std", type=float, default=0.1, help="MR-MAML prior std")
    parser.add_argument("--no-maml", action="store_true", help="skip the plain MAML run")
    parser.add_argument("--control", action="store_true",
                        help="also run MAML on mutually-exclusive tasks (labels dealt anew per task) as the control")
    parser.add_argument("--test-episodes", type=int, default=300)
    parser.add_argument("--test-queries", type=int, default=5)
    parser.add_argument("--watch-episodes", type=int, default=40, help="novel-class episodes scored during training")
    parser.add_argument("--probe-tasks", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one process each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the JSON results here")
    args = parser.parse_args()

    shape = EpisodeShape(ways=args.ways, shots=1, queries=1)  # Yin et al.: one support, one query image per class
    maml = {"maml": {"inner_steps": args.inner_steps, "inner_lr": args.inner_lr, "head_init": args.head_init}}
    base = dict(learner=maml, backbone={"conv4": {"width": args.width}}, train_episodes=shape,
                meta_batch_size=args.meta_batch, outer_lr=args.outer_lr)
    runs = {} if args.no_maml else {"maml": (Strategy(**base), False)}
    if args.control:
        runs["maml, control: shuffled labels"] = (Strategy(**base), True)
    for layer_set, beta, mode in itertools.product(args.layer_sets, args.betas, args.modes):
        mr = {"mr_maml": {"layers": layer_set.split("+"), "beta": beta, "init_std": args.init_std,
                          "prior_std": args.prior_std, "adapt_stochastic": mode == "adapted"}}
        name = f"mr_maml {layer_set} beta={beta:g}" + (" adapted" if mode == "adapted" else "")
        runs[name] = (Strategy(**base, regularizers=[mr]), False)

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run, name, strategy, shuffled, args) for name, (strategy, shuffled) in runs.items()]
        results = [future.result() for future in futures]
    for result in results:
        novel, support, bins = result["novel"], result["follows_support"], result["follows_bins"]
        print(f"{result['name']:22s} novel classes {novel['mean']:.3f} +- {novel['ci95']:.3f}   relabelled "
              f"training tasks: follows support {support['mean']:.3f} +- {support['ci95']:.3f}, follows "
              f"memorised bins {bins['mean']:.3f} +- {bins['ci95']:.3f}   ({result['train_seconds']} s)")
    report = json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2)
    if args.out:
        args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
