"""Run files attached to the Optuna study as artifacts, so ``optuna-dashboard`` shows them.

Each trial's ``metrics.json`` and ``log.txt`` are attached to the trial while it
runs (Optuna refuses to change a finished trial); the report and the model card
to the study when a search ends, replacing the copies an earlier run attached.
The files live in ``RUN_DIR/artifacts-store/`` under Optuna's ids (the storage
keeps only the ids, so the store moves with the run directory)::

    optuna-dashboard sqlite:///RUN_DIR/study.db --artifact-dir RUN_DIR/artifacts-store

Attaching is a convenience: a failure is logged and never stops a search.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

log = logging.getLogger("autometa.search")

_PREFIX = "artifacts:"  # how optuna.artifacts names its study and trial system attributes


class StudyArtifacts:
    """The artifact store of one run directory and the uploads into it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _store(self) -> FileSystemArtifactStore:
        self.folder.mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(base_path=self.folder)

    def attach_to_trial(self, trial: optuna.Trial, files: list[Path]) -> None:
        """Attach ``files`` (those that exist) to a trial that is still running."""
        try:
            store = self._store()
            for path in files:
                if path.is_file():
                    upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial,
                                    mimetype=_mimetype(path))
        except Exception as exc:
            log.warning("trial %d: files not attached to the study (%r)", trial.number, exc)

    def attach_to_study(self, study: optuna.Study, files: list[Path]) -> None:
        """Attach ``files`` (those that exist) to the study; an earlier copy of the same name is
        replaced, an identical one kept."""
        try:
            store = self._store()
            earlier = self.study_files(study)
            for path in files:
                if not path.is_file():
                    continue
                data = path.read_bytes()
                same_name = [aid for aid, name in earlier.items() if name == path.name]
                if any(self._read(aid) == data for aid in same_name):
                    continue
                for artifact_id in same_name:
                    self._remove(study, store, artifact_id)
                upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study,
                                mimetype=_mimetype(path))
        except Exception as exc:
            log.warning("files not attached to the study (%r)", exc)

    @staticmethod
    def study_files(study: optuna.Study) -> dict[str, str]:
        """``{artifact id: file name}`` of the study's artifacts.

        Read from the system attributes directly: a removed artifact leaves a null
        entry there (as optuna-dashboard's delete does), which Optuna's own
        ``get_all_artifact_meta`` cannot read.
        """
        attrs = study._storage.get_study_system_attrs(study._study_id)
        metas = [json.loads(v) for k, v in attrs.items() if k.startswith(_PREFIX)]
        return {m["artifact_id"]: m["filename"] for m in metas if m}

    def _read(self, artifact_id: str) -> bytes | None:
        path = self.folder / artifact_id
        return path.read_bytes() if path.is_file() else None

    @staticmethod
    def _remove(study: optuna.Study, store: FileSystemArtifactStore, artifact_id: str) -> None:
        try:
            store.remove(artifact_id)
        except ArtifactNotFound:
            pass
        study._storage.set_study_system_attr(study._study_id, _PREFIX + artifact_id, json.dumps(None))


def _mimetype(path: Path) -> str:
    if path.suffix in (".yaml", ".yml", ".md", ".txt", ".log"):
        return "text/plain"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
