"""The experience package on its own: meta-features, the store, adapting strategies, the plan, the sampler's prior."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import optuna
import pytest
import torch
from doubles import NoiseBlobs

from autometa.data import ImageClasses, Preprocessing, SplitData
from autometa.errors import AutometaError, ExperienceError
from autometa.experience import (
    ExperienceStore,
    PriorSampler,
    SearchRecord,
    SearchSpace,
    Source,
    TrialRecord,
    meta_distance,
    meta_features,
    plan_warm_start,
    prior_observations,
)
from autometa.recipe.schema import EpisodeShape
from autometa.recipe.space import resolve

SHAPE = EpisodeShape(ways=3, shots=1, queries=2)

SPACE = {
    "learner": {"choice": {"protonet": {}, "anil": {"inner_lr": {"log_uniform": [0.05, 1.0]},
                                                    "inner_steps": {"int": [1, 5]}}}},
    "backbone": {"conv4": {"width": {"choice": [16, 32]}}},
    "outer_lr": {"log_uniform": [0.0003, 0.01]},
}


def noise_data() -> SplitData:
    return NoiseBlobs(NoiseBlobs.Options()).load(None)


def record(name: str, trials: list[TrialRecord], *, space=SPACE, features=None, key=None) -> SearchRecord:
    return SearchRecord(
        key=key or f"/runs/{name}", name=name, dataset="noise_blobs", objectives=["accuracy"],
        evaluation={"ways": 3, "shots": 1, "queries": 2}, space=space, meta_features=features or {},
        fingerprint="f" * 16, trials=trials,
    )


def trial(number: int, value: float | None, state: str = "complete", **params) -> TrialRecord:
    return TrialRecord(number, state, None if value is None else [value], params, seconds=1.5, steps=4)


# ------------------------------------------------------------------ meta-features


def test_meta_features_are_deterministic_within_and_across_processes():
    features = meta_features(noise_data(), SHAPE)
    assert features == meta_features(noise_data(), SHAPE)
    assert (features["image_size"], features["channels"], features["classes"], features["images"]) == (8, 1, 16, 96)
    assert features["images_per_class"] == 6 and (features["ways"], features["shots"]) == (3, 1)
    assert 0 < features["pixel_mean"] < 1 and 0 < features["pixel_std"] < 1
    assert 1 / 3 < features["probe_pixels"] <= 1 and 1 / 3 < features["probe_random_conv"] <= 1  # better than chance
    code = (
        "import json, torch; torch.set_num_threads(2)\n"
        "from doubles import NoiseBlobs\nfrom autometa.experience import meta_features\n"
        "from autometa.recipe.schema import EpisodeShape\n"
        "print(json.dumps(meta_features(NoiseBlobs(NoiseBlobs.Options()).load(None), EpisodeShape(ways=3, shots=1, queries=2))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=__file__.rsplit("/", 1)[0])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == features


def test_the_probe_tells_easy_data_from_noise():
    easy = noise_data()
    generator = torch.Generator().manual_seed(1)

    def noise(n_classes: int) -> ImageClasses:
        images = (torch.rand(n_classes * 6, 1, 8, 8, generator=generator) * 255).to(torch.uint8)
        return ImageClasses(images, torch.arange(n_classes).repeat_interleave(6), [f"c{i}" for i in range(n_classes)])

    hard = SplitData(noise(6), noise(5), noise(5), Preprocessing(channels=1, image_size=8))
    easy_features, hard_features = meta_features(easy, SHAPE), meta_features(hard, SHAPE)
    assert easy_features["probe_pixels"] > hard_features["probe_pixels"] + 0.3
    assert meta_distance(easy_features, easy_features) == 0
    assert meta_distance(easy_features, hard_features) > 1
    assert math.isinf(meta_distance(easy_features, {}))


# ---------------------------------------------------------------------- the store


def test_store_round_trip_replace_find_and_forget(tmp_path):
    store = ExperienceStore(str(tmp_path / "sub" / "experience.db"))
    first = record("omni", [trial(0, 0.5, outer_lr=0.001), trial(1, None, "pruned", outer_lr=0.01)],
                   features={"image_size": 28.0})
    first.warm_start = {"setting": "auto", "sources": []}
    store.record(first)
    (read,) = store.searches()
    assert read.recorded_at and {**read.as_dict(), "recorded_at": ""} == first.as_dict()
    first.trials.append(trial(2, 0.7, outer_lr=0.002))
    store.record(first)  # recording again replaces the whole record
    (read,) = ExperienceStore(str(tmp_path / "sub" / "experience.db")).searches()
    assert [t.number for t in read.trials] == [0, 1, 2] and read.best_value == 0.7
    assert [t.number for t in read.ranked()] == [2, 0]
    store.record(record("omni", [], key="/elsewhere/omni"))
    assert store.find("/runs/omni").key == "/runs/omni"
    with pytest.raises(ExperienceError, match="'omni' names 2 searches"):
        store.find("omni")
    assert store.forget("/elsewhere/omni").key == "/elsewhere/omni"
    assert store.find("omni").key == "/runs/omni"
    with pytest.raises(ExperienceError, match="no earlier search named 'omni2'"):
        store.forget("omni2")


def test_a_corrupt_store_is_one_clear_error(tmp_path):
    path = tmp_path / "experience.db"
    path.write_bytes(b"not a database at all" * 200)
    with pytest.raises(AutometaError) as info:
        ExperienceStore(str(path))
    assert info.value.exit_code == 2
    message = str(info.value)
    assert str(path) in message and "AUTOMETA_EXPERIENCE" in message and "\n" not in message
    with pytest.raises(ExperienceError, match="cannot be opened"):
        ExperienceStore(str(path / "below-a-file.db"))  # its folder cannot be made


# ------------------------------------------------------------ adapting strategies


def test_values_the_new_space_does_not_offer_are_dropped_with_a_note_never_clipped():
    source = SearchSpace({**SPACE, "outer_lr": {"log_uniform": [0.0001, 0.1]},
                          "backbone": {"conv4": {"width": {"choice": [16, 32, 64]}}}})
    adapted = SearchSpace(SPACE).adapt(
        {"learner": "anil", "learner.anil.inner_lr": 0.3, "outer_lr": 0.05, "backbone.conv4.width": 64}, source
    )
    assert adapted.skipped is None
    assert adapted.params == {"learner": "anil", "learner.anil.inner_lr": 0.3}
    assert adapted.notes == [
        "outer_lr=0.05 is outside [0.0003, 0.01] here",
        "backbone.conv4.width=64 is not one of [16, 32] here",
        "learner.anil.inner_steps not searched there",
    ]
    wrong_type = SearchSpace(SPACE).adapt({"learner": "protonet", "backbone.conv4.width": "32"}, source)
    assert wrong_type.params == {"learner": "protonet"} and "is not one of [16, 32]" in wrong_type.notes[0]


def test_a_strategy_whose_component_is_not_offered_is_skipped_with_a_note():
    source = SearchSpace({**SPACE, "learner": {"choice": {"maml": {"inner_lr": {"uniform": [0.1, 1.0]}}, "protonet": {}}}})
    maml = {"learner": "maml", "learner.maml.inner_lr": 0.4, "outer_lr": 0.001}
    assert SearchSpace(SPACE).adapt(maml, source).skipped == "its learner=maml is not one of ['protonet', 'anil'] here"
    fixed_protonet = SearchSpace({**SPACE, "learner": "protonet"})
    assert fixed_protonet.adapt(maml, source).skipped == "its learner=maml, but this recipe fixes learner to protonet"
    fixed_maml = SearchSpace({**SPACE, "learner": {"maml": {"inner_lr": {"uniform": [0.1, 1.0]}}}})
    assert fixed_maml.adapt(maml, source).params == {"learner.maml.inner_lr": 0.4, "outer_lr": 0.001}

    searches = [record("src", [trial(0, 0.9, **maml), trial(1, 0.8, learner="protonet", outer_lr=0.002),
                               trial(2, 0.7, learner="protonet", outer_lr=0.002), trial(3, 0.6, outer_lr=0.5)],
                       space=source.strategy)]
    plan = plan_warm_start("auto", [Source(s, 0.1) for s in searches], SearchSpace(SPACE), count=3)
    assert [s["params"] for s in plan.strategies] == [{"learner": "protonet", "outer_lr": 0.002}]
    assert plan.strategies[0]["transferred_from"] == {"search": "src", "run_dir": "/runs/src", "trial": 1, "value": 0.8}
    assert "src #0 skipped: its learner=maml is not one of ['protonet', 'anil'] here" in plan.notes
    assert "src #2 skipped: the same here as src #1" in plan.notes
    assert "src #3 skipped: none of its values is offered here" in plan.notes


def test_the_plan_takes_turns_across_sources_best_first():
    near = record("near", [trial(n, 0.5 + n / 10, learner="protonet", outer_lr=0.001 * (n + 1)) for n in range(3)])
    far = record("far", [trial(n, 0.2 + n / 10, learner="protonet", outer_lr=0.005 + 0.001 * n) for n in range(2)])
    plan = plan_warm_start(["near", "far"], [Source(near, 0.1), Source(far, 0.5)], SearchSpace(SPACE), count=4)
    assert [(s["transferred_from"]["search"], s["transferred_from"]["trial"]) for s in plan.strategies] == [
        ("near", 2), ("far", 1), ("near", 1), ("far", 0)
    ]
    assert [s["distance"] for s in plan.sources] == [0.1, 0.5]


# ------------------------------------------------------------- the sampler's prior


def test_the_prior_steers_the_first_trials_and_never_enters_the_study():
    best_lr = 0.002
    earlier = [trial(n, 1 - abs(math.log10(lr / best_lr)), learner="protonet", outer_lr=lr, **{"backbone.conv4.width": 32})
               for n, lr in enumerate(10 ** torch.linspace(-3.5, -2, 24).double())]
    earlier = [TrialRecord(t.number, t.state, t.values, {**t.params, "outer_lr": float(t.params["outer_lr"])})
               for t in earlier]
    pruned = [trial(24, None, "pruned", learner="protonet", outer_lr=0.0003),
              trial(25, None, "failed", learner="protonet", outer_lr=0.0004)]
    observations = prior_observations([Source(record("src", earlier + pruned))], SearchSpace(SPACE))
    assert len(observations) == 25 and observations[0].value == 1  # failed trials are no observation
    assert observations[-1].value == 0 and observations[-1].params["outer_lr"] == 0.0003  # pruned: below every complete

    def first_trials(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: (resolve(SPACE, t), 0.0)[1], n_trials=5)
        return study

    def own() -> optuna.samplers.TPESampler:
        return optuna.samplers.TPESampler(seed=3, n_startup_trials=5, multivariate=True)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warm = first_trials(PriorSampler(own(), observations, startup_trials=5, seed=3))
    cold = first_trials(own())
    assert len(warm.trials) == 5 and all(t.value == 0.0 for t in warm.trials)  # no observation became a trial

    def miss(study: optuna.Study) -> float:
        return sorted(abs(math.log10(t.params["outer_lr"] / best_lr)) for t in study.trials)[2]

    assert miss(warm) < 0.1 and miss(warm) < miss(cold) / 3


def test_a_choice_among_lists_carries_over_as_optuna_stores_it():
    """``augment: {choice: [[], [affine]]}`` is stored as JSON text; a warm start compares that text."""
    space = SearchSpace({"augment": {"choice": [[], ["affine"], ["affine", "elastic"]]}})
    kept = space.adapt({"augment": '["affine"]'}, space)
    assert kept.skipped is None and kept.params == {"augment": '["affine"]'}
    other = SearchSpace({"augment": {"choice": [[], ["elastic"]]}})
    dropped = other.adapt({"augment": '["affine"]', "outer_lr": 0.01}, space)
    assert "augment" not in dropped.params and any(note.startswith("augment=") for note in dropped.notes)
