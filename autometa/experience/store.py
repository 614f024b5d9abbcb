"""The experience store: what earlier searches tried on which data, kept across runs so a new search can start warm.

One record per search, keyed by its run directory (absolute path) and named by
its recipe's name; recording again replaces the whole record in one
transaction. A record holds the data set's meta-features
(:mod:`autometa.experience.metafeatures`), the evaluation shape, the objectives,
the searched space (the recipe's ``strategy``), a fingerprint of the searched
problem, what the search was itself warm-started from, and every finished
trial: its parameters, objective values, state, seconds and meta-steps trained,
and the earlier search it was transferred from, if any.

The store is a SQLAlchemy database (two tables prefixed ``experience_``, so it
may share a database with other things). Where it is: ``$AUTOMETA_EXPERIENCE``
(a file path or any SQLAlchemy URL, e.g. ``postgresql://host/db`` for a team),
else ``$XDG_DATA_HOME/autometa/experience.db``, else
``~/.local/share/autometa/experience.db``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from autometa.errors import ExperienceError

_METADATA = sa.MetaData()
_SEARCHES = sa.Table(
    "experience_searches", _METADATA,
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(255), nullable=False),
    sa.Column("objectives", sa.JSON, nullable=False),
    sa.Column("evaluation", sa.JSON, nullable=False),
    sa.Column("space", sa.JSON, nullable=False),
    sa.Column("meta_features", sa.JSON, nullable=False),
    sa.Column("warm_start", sa.JSON, nullable=False),
)
_TRIALS = sa.Table(
    "experience_trials", _METADATA,
    sa.Column("search_key", sa.String(1024), sa.ForeignKey("experience_searches.key"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("values", sa.JSON),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("seconds", sa.Float),
    sa.Column("steps", sa.Integer),
    sa.Column("transferred_from", sa.JSON),
)


@dataclass
class TrialRecord:
    """One finished trial of an earlier search."""

    number: int
    state: str  # "complete", "pruned" or "failed"
    values: list[float] | None
    params: dict[str, Any]
    seconds: float | None = None
    steps: int | None = None
    transferred_from: dict[str, Any] | None = None


@dataclass
class SearchRecord:
    """One earlier search: where it ran, on what data and shape, over which space, and every trial it finished."""

    key: str
    name: str
    dataset: str
    objectives: list[str]
    evaluation: dict[str, int]
    space: dict[str, Any]
    meta_features: dict[str, float]
    fingerprint: str
    trials: list[TrialRecord]
    warm_start: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""

    def ranked(self) -> list[TrialRecord]:
        """Complete trials, best first by the first objective (accuracy)."""
        complete = [t for t in self.trials if t.state == "complete" and t.values]
        return sorted(complete, key=lambda t: (-t.values[0], t.number))

    @property
    def best_value(self) -> float | None:
        ranked = self.ranked()
        return ranked[0].values[0] if ranked else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The trial user attribute naming the earlier search a transferred trial came from.
TRANSFERRED_FROM = "transferred_from"


def default_location() -> str:
    """``$AUTOMETA_EXPERIENCE``, else ``$XDG_DATA_HOME/autometa/experience.db``, else ``~/.local/share/...``."""
    if os.environ.get("AUTOMETA_EXPERIENCE"):
        return os.environ["AUTOMETA_EXPERIENCE"]
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return str(Path(base) / "autometa" / "experience.db")


class ExperienceStore:
    """The records of earlier searches in one database (a file path or a SQLAlchemy URL)."""

    def __init__(self, location: str):
        path = None if "://" in location else Path(location).expanduser().resolve()
        self.url = location if path is None else f"sqlite:///{path}"
        with self._database("be opened"):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._engine = sa.create_engine(self.url)
            self.url = self._engine.url.render_as_string(hide_password=True)
            _METADATA.create_all(self._engine)

    @classmethod
    def default(cls) -> ExperienceStore:
        """The store at :func:`default_location`."""
        return cls(default_location())

    def record(self, search: SearchRecord) -> None:
        """Add ``search``, replacing any earlier record of the same run directory, in one transaction."""
        row = {k: v for k, v in asdict(search).items() if k != "trials"}
        row["recorded_at"] = search.recorded_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._database("record a search"), self._engine.begin() as connection:
            connection.execute(_TRIALS.delete().where(_TRIALS.c.search_key == search.key))
            connection.execute(_SEARCHES.delete().where(_SEARCHES.c.key == search.key))
            connection.execute(_SEARCHES.insert(), [row])
            if search.trials:
                connection.execute(_TRIALS.insert(), [{"search_key": search.key, **asdict(t)} for t in search.trials])

    def searches(self) -> list[SearchRecord]:
        """Every recorded search, oldest first, with its trials."""
        with self._database("be read"), self._engine.connect() as connection:
            rows = connection.execute(sa.select(_SEARCHES).order_by(_SEARCHES.c.recorded_at, _SEARCHES.c.key)).all()
            trial_rows = connection.execute(sa.select(_TRIALS).order_by(_TRIALS.c.search_key, _TRIALS.c.number)).all()
        trials: dict[str, list[TrialRecord]] = {}
        for trial in trial_rows:
            values = trial._asdict()
            trials.setdefault(values.pop("search_key"), []).append(TrialRecord(**values))
        return [SearchRecord(**row._asdict(), trials=trials.get(row.key, [])) for row in rows]

    def find(self, reference: str) -> SearchRecord:
        """The search a user names: its run directory (as given or absolute), or its recipe name if unique."""
        searches = self.searches()
        path = str(Path(reference).expanduser().resolve())
        by_key = [s for s in searches if s.key in (reference, path)]
        matches = by_key or [s for s in searches if s.name == reference]
        if not matches:
            raise ExperienceError(
                f"no earlier search named '{reference}' in the experience store {self.url}; "
                "'autometa experience list' shows the recorded ones"
            )
        if len(matches) > 1:
            keys = ", ".join(s.key for s in matches)
            raise ExperienceError(f"'{reference}' names {len(matches)} searches ({keys}); give its run directory instead")
        return matches[0]

    def forget(self, reference: str) -> SearchRecord:
        """Remove the search ``reference`` names (see :meth:`find`); returns what was removed."""
        search = self.find(reference)
        with self._database("forget a search"), self._engine.begin() as connection:
            connection.execute(_TRIALS.delete().where(_TRIALS.c.search_key == search.key))
            connection.execute(_SEARCHES.delete().where(_SEARCHES.c.key == search.key))
        return search

    @contextmanager
    def _database(self, doing: str) -> Iterator[None]:
        """A database error is one line naming the store and the fix."""
        try:
            yield
        except (SQLAlchemyError, ImportError, OSError) as exc:  # ImportError: the URL's driver is missing
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ExperienceError(
                f"experience store {self.url}: cannot {doing} ({reason}); move it away, or set "
                "AUTOMETA_EXPERIENCE to another file or database URL"
            ) from None
