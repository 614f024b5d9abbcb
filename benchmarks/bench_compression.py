"""Compression on Omniglot (small sets), 20-way 1-shot, Conv4 ProtoNet: what it costs, what it saves.

Meta-trains a Conv4-64 ProtoNet with the trainer ``autometa train`` uses (the
"uncompressed winner"), then runs ``compress_run`` exactly as ``autometa compress``
does with ``recipes/compression-first.yaml``'s stages: structured channel pruning
(Torch-Pruning, magnitude, two prune-then-fine-tune steps) and Hinton logit
distillation from the uncompressed teacher, exported to ``.pt2`` and ONNX and
verified. It prints the model card's stage table (test accuracy with 95% CI over
fixed test episodes, parameters, FLOPs), then times the uncompressed and the
compressed ``.pt2`` side by side (alternating calls on one 20-way 1-shot
episode) and prints the ratios the acceptance criteria ask for.

    nice python benchmarks/bench_compression.py                # the recorded run (~10-15 min)
    nice python benchmarks/bench_compression.py --scale 0.02 --test-episodes 10   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from shared_data import OMNIGLOT_ROOT

from autometa.components import ComponentRef
from autometa.data import load_data
from autometa.deploy import compress_run, export_checkpoint, load_artifact, measure_latencies, predictor_inputs
from autometa.learning import split_episodes, train
from autometa.plugins import default_host
from autometa.recipe import dump_recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]
OMNIGLOT = OMNIGLOT_ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="meta-training steps of the teacher")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the teacher's and the stages' step counts")
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--val-episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-compression")
    parser.add_argument("--latency-calls", type=int, default=60, help="timed calls per model (alternating)")
    args = parser.parse_args()
    scaled = lambda steps: max(1, round(steps * args.scale))  # noqa: E731

    recipe = load_recipe(ROOT / "recipes" / "compression-first.yaml", default_host().registry)
    dataset = ComponentRef("omniglot", {**recipe.data.dataset.options, "root": str(OMNIGLOT)})
    recipe = recipe.model_copy(
        update={
            "name": "bench-compression",
            "data": recipe.data.model_copy(update={"dataset": dataset}),
            "strategy": {**recipe.strategy, "outer_lr": 0.001},  # the fixed teacher instead of a search
            "training": recipe.training.model_copy(update={"meta_steps": scaled(args.steps), "eval_every": scaled(args.steps)}),
            "compression": recipe.compression.model_copy(
                update={
                    "pruner": scale_options(recipe.compression.pruner, "finetune_steps", args.scale),
                    "distiller": scale_options(recipe.compression.distiller, "steps", args.scale),
                }
            ),
            "evaluation": recipe.evaluation.model_copy(
                update={"test_episodes": args.test_episodes, "val_episodes": args.val_episodes}
            ),
        }
    )
    run_dir = args.out
    (run_dir / "best").mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(dump_recipe(recipe), encoding="utf-8")
    data = load_data(recipe.data, default_host().registry)

    start = time.perf_counter()
    result = train(recipe, recipe.fixed_strategy(), data, default_host().registry, workdir=run_dir / "best")
    train_s = time.perf_counter() - start
    print(f"teacher: {result.steps} meta-steps in {train_s:.0f} s, validation {result.val}", flush=True)

    start = time.perf_counter()
    artifacts = compress_run(run_dir, default_host().registry, recipe=recipe)
    compress_s = time.perf_counter() - start
    card = json.loads((artifacts / "model_card.json").read_text())
    print((artifacts / "model_card.md").read_text())

    # Side by side (calls in turn): the uncompressed winner and the compressed predictor, both as shipped (.pt2).
    original_file = export_checkpoint(run_dir / "best" / "checkpoint.pt", ["torch_export"], default_host().registry, run_dir / "uncompressed")[0]
    original = load_artifact(run_dir / "uncompressed" / original_file.file, default_host().registry)
    compressed = load_artifact(artifacts / "predictor.pt2", default_host().registry)
    inputs = predictor_inputs(split_episodes(recipe, data, "test")[0])
    before, after = measure_latencies([original, compressed], inputs, runs=args.latency_calls)

    first, last = card["stages"][0], card["stages"][-1]
    summary = {
        "teacher_steps": result.steps,
        "train_seconds": round(train_s),
        "compress_seconds": round(compress_s),
        "accuracy_original": first["accuracy"],
        "accuracy_compressed": last["accuracy"],
        "accuracy_drop_points": round(first["accuracy"]["mean"] - last["accuracy"]["mean"], 2),
        "parameters": [first["parameters"], last["parameters"]],
        "parameter_ratio": round(first["parameters"] / last["parameters"], 2),
        "mflops": [round(first["flops"] / 1e6, 1), round(last["flops"] / 1e6, 1)],
        "latency_ms_median": [round(before.median_ms, 2), round(after.median_ms, 2)],
        "latency_ms_p95": [round(before.p95_ms, 2), round(after.p95_ms, 2)],
        "latency_ratio_median": round(before.median_ms / after.median_ms, 2),
        "file_kib": {a["file"]: round(a["size_bytes"] / 1024, 1) for a in card["artifacts"]}
        | {"uncompressed predictor.pt2": round(original_file.size_bytes / 1024, 1)},
    }
    print(json.dumps(summary, indent=2))


def scale_options(ref: ComponentRef, key: str, scale: float) -> ComponentRef:
    """``ref`` with its step-count option ``key`` multiplied by ``scale`` (at least 1)."""
    return ComponentRef(ref.name, {**ref.options, key: max(1, round(ref.options[key] * scale))})


if __name__ == "__main__":
    main()
