"""Which search a study belongs to, and which study a run directory belongs to: never mixed.

One storage (a SQLite file, a PostgreSQL database, a journal file) holds one
search: the study named :data:`STUDY_NAME`. The process that creates it records
the searched problem in the study's user attributes (:data:`IDENTITY_ATTR`): a
random id, the recipe's name and a fingerprint of everything that gives a trial's
value its meaning (data, evaluation, strategy space, training, seed, objectives).
A recipe whose fingerprint differs is refused, so a second search pointed at the
same storage never joins the first. Its run directory records the study's id
(``study.json``): trial folders next to an empty, missing or foreign storage are
refused rather than overwritten.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import optuna

from autometa.errors import RunDirectoryError
from autometa.recipe.schema import Recipe
from autometa.search.redact import redact_storage
from autometa.search.run_directory import RESUMABLE_SECTIONS, RunDirectory

STUDY_NAME = "autometa"
IDENTITY_ATTR = "autometa:search"
#: Bumped when the fingerprint's recipe of sections changes: only equal versions are compared.
FINGERPRINT_VERSION = 1
#: How long a process that found the study just created waits for its creator to record the problem.
CREATOR_WAIT_SECONDS = 30


def problem_fingerprint(recipe: Recipe) -> str:
    """SHA-256 of what a trial's value means; sections that may change between runs are left out.

    ``output_dir`` and ``data.cache_dir`` are left out too: workers on several
    machines keep them in different places.
    """
    data = recipe.model_dump(mode="json")
    problem = {key: value for key, value in data.items() if key not in (*RESUMABLE_SECTIONS, "output_dir")}
    problem["data"] = {key: value for key, value in data["data"].items() if key != "cache_dir"}
    problem["objectives"] = data["search"]["objectives"]
    text = json.dumps(problem, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def new_identity(recipe: Recipe) -> dict[str, Any]:
    return {
        "uid": uuid.uuid4().hex, "recipe": recipe.name,
        "fingerprint": problem_fingerprint(recipe), "version": FINGERPRINT_VERSION,
    }


def claim_study(study: optuna.Study, recipe: Recipe, spec: str, *, created: bool, adopt_unmarked: bool) -> dict[str, Any]:
    """The study's identity, recorded now if this process ``created`` it; a RunDirectoryError if it belongs
    to another search.

    ``adopt_unmarked``: a study with trials but no identity (made by autometa 0.1
    in the run directory's own storage) is adopted; elsewhere it is refused.
    """
    if created:
        identity = new_identity(recipe)
        study.set_user_attr(IDENTITY_ATTR, identity)
        return identity
    identity = _wait_for_identity(study)
    if identity is None:
        if study.get_trials(deepcopy=False) and not adopt_unmarked:
            raise RunDirectoryError(
                f"storage {redact_storage(spec)}: holds an Optuna study autometa did not make; "
                "give this search its own database or file"
            )
        identity = new_identity(recipe)  # an old autometa study, or its creator died before recording it
        study.set_user_attr(IDENTITY_ATTR, identity)
        return identity
    if identity["version"] == FINGERPRINT_VERSION and identity["fingerprint"] != problem_fingerprint(recipe):
        other = "another recipe" if identity["recipe"] == recipe.name else f"recipe '{identity['recipe']}'"
        raise RunDirectoryError(
            f"storage {redact_storage(spec)}: holds the search of {other}, a different problem "
            "(data, evaluation, strategy space, training, seed or objectives differ); "
            "give this search its own database or file"
        )
    return identity


def _wait_for_identity(study: optuna.Study) -> dict[str, Any] | None:
    """The recorded identity; a study without trials may have been created a moment ago: wait for its creator."""
    deadline = time.monotonic() + CREATOR_WAIT_SECONDS
    while True:
        identity = study.user_attrs.get(IDENTITY_ATTR)
        if identity is not None or study.get_trials(deepcopy=False) or time.monotonic() > deadline:
            return identity
        time.sleep(0.5)


def check_storage_present(run: RunDirectory, spec: str, *, exists: bool) -> None:
    """Refuse a storage without the study while ``run`` holds trials (deleted, emptied or replaced)."""
    if not exists and (run.trial_folders() or run.study_record() is not None):
        _refuse_storage_without_trials(run, spec)


def bind_run_directory(run: RunDirectory, spec: str, identity: dict[str, Any], study: optuna.Study) -> None:
    """Record in ``run`` which study it belongs to, refusing a run directory of another study."""
    record = run.study_record()
    if record is None:
        if run.trial_folders() and not study.get_trials(deepcopy=False):
            _refuse_storage_without_trials(run, spec)
        run.write_study_record({"uid": identity["uid"], "storage": redact_storage(spec)})
    elif record["uid"] != identity["uid"]:
        raise RunDirectoryError(
            f"{run.root}: its trials belong to another study (in {record['storage']}) than the one in "
            f"storage {redact_storage(spec)}; pass that storage, or delete {run.root} to start afresh"
        )


def _refuse_storage_without_trials(run: RunDirectory, spec: str) -> None:
    raise RunDirectoryError(
        f"{run.root}: has {len(run.trial_folders())} trial folders but storage {redact_storage(spec)} holds none "
        f"of their trials (deleted, emptied or replaced); restore the storage they came from, "
        f"or delete {run.root} to start afresh"
    )
