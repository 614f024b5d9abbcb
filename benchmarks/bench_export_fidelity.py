"""What ships is what was scored: a learner's test accuracy vs its exported predictors', on the same episodes.

For maml (1 and 5 inner steps), metasgd and anil on the shared Omniglot small sets
(the omniglot data set's default split: meta-train images_background_small1,
meta-val small2's Japanese (katakana), meta-test small2's Sanskrit and Tagalog),
5-way 1-shot, Conv4-32 at 28 px: meta-train each learner for ``--steps``
meta-updates, then score on the same fixed test episodes

* the learner itself (``evaluate_learner``: its own ``predict``, what the search ranks);
* **before**: autometa 0.1's head-only ``HeadAdaptationPredictor`` (body frozen,
  inner steps on the linear head only; copied below verbatim), exported as 0.1
  did (``torch.export`` / ``torch.onnx.export`` of the module);
* **after**: ``learner.deployable_predictor()`` (the learner's own adaptation)
  exported and verified by the built-in exporters (``export_and_verify``).

Every predictor sees the same episodes, scored in turn. Reports each accuracy
with its 95% CI, the difference to the learner's in points, the share of query
predictions equal to the learner's, and export times.

    nice python benchmarks/bench_export_fidelity.py --steps 300 --test-episodes 600 --out export_fidelity.json
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from shared_data import OMNIGLOT_ROOT
from torch import Tensor, nn

from autometa.data import EpisodeSampler, fixed_episodes, load_data
from autometa.deploy import export_and_verify, predict_episode
from autometa.learning import build_learner, evaluate, make_optimizer
from autometa.plugins import default_host
from autometa.recipe import DataSection, EpisodeShape, Strategy

OMNIGLOT = {"omniglot": {"root": str(OMNIGLOT_ROOT)}}
LEARNERS = {
    "maml, 1 step": {"maml": {"inner_steps": 1, "inner_lr": 0.4}},
    "maml, 5 steps": {"maml": {"inner_steps": 5, "inner_lr": 0.1}},
    "metasgd, 5 steps": {"metasgd": {"inner_steps": 5, "inner_lr": 0.1}},
    "anil, 5 steps": {"anil": {"inner_steps": 5, "inner_lr": 0.1}},
}


class HeadAdaptationPredictor(nn.Module):
    """autometa 0.1's predictor of every gradient learner (autometa/learning/head_predictor.py before
    issue 14): the body frozen, ``inner_steps`` closed-form gradient steps on the linear head."""

    def __init__(self, backbone: nn.Module, weight_step_sizes: Tensor, bias_step_sizes: Tensor):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("weight_step_sizes", weight_step_sizes)  # [steps, 1, D]
        self.register_buffer("bias_step_sizes", bias_step_sizes)  # [steps, 1]

    def forward(self, support_images: Tensor, support_onehot: Tensor, query_images: Tensor) -> Tensor:
        support = self.backbone(support_images)
        query = self.backbone(query_images)
        weight = torch.zeros_like(support_onehot.t() @ support)
        bias = torch.zeros_like(support_onehot[0])
        for step in range(self.weight_step_sizes.shape[0]):
            probabilities = torch.softmax(F.linear(support, weight, bias), dim=1)
            residual = (probabilities - support_onehot) / support_onehot.shape[0]
            weight = weight - self.weight_step_sizes[step] * (residual.t() @ support)
            bias = bias - self.bias_step_sizes[step] * residual.sum(0)
        return F.linear(query, weight, bias)


def head_only_predictor(learner) -> HeadAdaptationPredictor:
    """0.1's ``GradientLearner.export_predictor`` (zero head; sgd and meta_sgd step sizes as 0.1 read them)."""
    rule, features = learner.inner_optimizer, learner.backbone.out_features

    def size(name: str) -> Tensor:
        return rule.rate(name).detach().float() if hasattr(rule, "rate") else torch.tensor(float(rule.lr))

    steps = learner.options.inner_steps
    weights = torch.stack([size("head.weight").expand(1, features) for _ in range(steps)])
    biases = torch.stack([size("head.bias").reshape(-1)[:1] for _ in range(steps)])
    return HeadAdaptationPredictor(copy.deepcopy(learner.backbone).eval(), weights, biases).eval()


def export_before(predictor: nn.Module, example, folder: Path) -> dict:
    """0.1's exporters: ``torch.export`` and ``torch.onnx.export`` of the module, S, N and Q dynamic."""
    import onnxruntime

    s, n, q = torch.export.Dim("support", min=2), torch.export.Dim("ways", min=2), torch.export.Dim("queries", min=1)
    shapes = ({0: s}, {0: s, 1: n}, {0: q})
    start = time.perf_counter()
    program = torch.export.export(predictor, example, dynamic_shapes=shapes)
    program.example_inputs = None
    torch.export.save(program, str(folder / "before.pt2"))
    pt2_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(predictor, example, str(folder / "before.onnx"), dynamo=True, dynamic_shapes=shapes,
                          input_names=["support_images", "support_onehot", "query_images"], output_names=["logits"],
                          opset_version=18, external_data=False, verbose=False)
    onnx_seconds = time.perf_counter() - start
    session = onnxruntime.InferenceSession(str(folder / "before.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def onnx_predict(*inputs: Tensor) -> Tensor:
        return torch.from_numpy(session.run(["logits"], {k: t.numpy() for k, t in zip(names, inputs)})[0])

    loaded = {".pt2 before": torch.export.load(str(folder / "before.pt2")).module(), ".onnx before": onnx_predict}
    return {"predictors": loaded, "seconds": {".pt2 before": pt2_seconds, ".onnx before": onnx_seconds}}


def export_after(learner, episodes, folder: Path) -> dict:
    """This change: the deployable predictor exported and verified by the built-in exporters."""
    registry = default_host().registry
    exporters = [registry.create("exporter", name) for name in ("torch_export", "onnx")]
    start = time.perf_counter()
    reports = export_and_verify(learner.deployable_predictor(), exporters, folder, episodes[:3], fresh_process=False)
    loaded = {
        f"{e.suffix} after": e.load(folder / f"predictor{e.suffix}") for e in exporters
    }
    return {
        "predictors": loaded,
        "seconds": {"export both, after (one trace)": time.perf_counter() - start},
        "reports": [{k: v for k, v in vars(r).items() if k != "loader_code"} for r in reports],
    }


def train_learner(name: str, strategy: Strategy, data, args) -> tuple[nn.Module, float]:
    torch.manual_seed(args.seed)
    learner = build_learner(strategy, data.preprocessing, default_host().registry)
    optimizer = make_optimizer(strategy, [p for p in learner.parameters() if p.requires_grad])
    sampler = EpisodeSampler(data.train, strategy.train_episodes, preprocessing=data.preprocessing, seed=args.seed)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        learner.train()
        learner.set_training_progress((step - 1) / args.steps)
        optimizer.zero_grad(set_to_none=True)
        output = learner.meta_step(sampler.sample(strategy.meta_batch_size))
        optimizer.step()
        if step % args.log_every == 0:
            print(f"[{name}] step {step}: train accuracy {output.accuracy:.3f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    return learner.eval(), time.perf_counter() - start


def score_side_by_side(learner, predictors: dict, episodes) -> dict:
    """Every predictor on every episode, in turn; accuracy with CI, and agreement with the learner."""
    predictions = {name: [] for name in ["learner", *predictors]}
    for episode in episodes:
        predictions["learner"].append(learner.predict(episode).argmax(1))
        for name, predictor in predictors.items():
            predictions[name].append(predict_episode(predictor, episode).argmax(1))
    results = {}
    for name, predicted in predictions.items():
        in_order = iter(predicted)
        result = evaluate(lambda e: F.one_hot(next(in_order), e.ways), episodes)
        agree = torch.cat([a == b for a, b in zip(predicted, predictions["learner"])]).float().mean()
        results[name] = {"mean": 100 * result.mean, "ci95": 100 * result.ci95, "agreement": float(agree)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=yaml.safe_load, default=OMNIGLOT, help="data set reference, as in a recipe")
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(LEARNERS))
    parser.add_argument("--steps", type=int, default=300, help="meta-updates per learner")
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--outer-lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=32, help="conv4 width")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--train-queries", type=int, default=5)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write every figure here, as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)

    section = DataSection(dataset=args.data, transforms={"image_size": args.image_size})
    data = load_data(section, default_host().registry)
    episodes = fixed_episodes(data.test, EpisodeShape(ways=5, shots=1, queries=15), args.test_episodes,
                              seed=args.seed, preprocessing=data.preprocessing, split_name="test")
    rows = []
    for name in args.learners:
        strategy = Strategy(learner=LEARNERS[name], backbone={"conv4": {"width": args.width}},
                            train_episodes=EpisodeShape(ways=5, shots=1, queries=args.train_queries),
                            meta_batch_size=args.meta_batch, outer_lr=args.outer_lr)
        learner, train_seconds = train_learner(name, strategy, data, args)
        with tempfile.TemporaryDirectory() as folder:
            before = export_before(head_only_predictor(learner), episodes[0].predictor_inputs(), Path(folder))
            after = export_after(learner, episodes, Path(folder))
            scores = score_side_by_side(learner, {**before["predictors"], **after["predictors"]}, episodes)
        row = {"learner": name, "strategy": strategy.model_dump(mode="json"), "train_seconds": round(train_seconds),
               "scores": scores, "export_seconds": {k: round(v, 1) for k, v in {**before["seconds"],
                                                                                **after["seconds"]}.items()},
               "after_reports": after["reports"]}
        rows.append(row)
        base = scores["learner"]["mean"]
        print(f"== {name}: learner {base:.2f} +- {scores['learner']['ci95']:.2f}", flush=True)
        for key, score in scores.items():
            print(f"   {key:14s} {score['mean']:.2f} +- {score['ci95']:.2f}  ({score['mean'] - base:+.2f} points, "
                  f"{100 * score['agreement']:.2f}% of predictions equal)", flush=True)
        print(f"   export seconds: {row['export_seconds']}", flush=True)
    if args.out:  # the table above is the summary; the file has every figure
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
