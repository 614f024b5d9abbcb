"""``autometa experience``: list, show and forget the earlier searches a warm start can learn from.

The store is where ``AUTOMETA_EXPERIENCE`` points (a file or a database URL),
else ``$XDG_DATA_HOME/autometa/experience.db``; see docs/search.md, "Warm start".
Only the store's database library is imported, not torch.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from autometa.cli.app import app, console

if TYPE_CHECKING:
    from autometa.experience.store import SearchRecord

experience_app = typer.Typer(help="See and prune the experience store that warm starts learn from.",
                             no_args_is_help=True)
app.add_typer(experience_app, name="experience")

NameArgument = Annotated[str, typer.Argument(help="Recorded search: its recipe name or its run directory.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _store():
    from autometa.experience.store import ExperienceStore

    return ExperienceStore.default()


@experience_app.command("list")
def experience_list(as_json: JsonOption = False) -> None:
    """Every recorded search: name, data set, evaluation shape, trials, best validation score, run directory."""
    store = _store()
    searches = store.searches()
    if as_json:
        typer.echo(json.dumps({"store": store.url, "searches": [_overview(s) for s in searches]}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"experience store {store.url}", title_justify="left")
    for column in ("name", "data set", "shape", "trials", "best val", "recorded", "run directory"):
        table.add_column(column, justify="right" if column in ("trials", "best val") else "left")
    for search in searches:
        row = _overview(search)
        table.add_row(row["name"], row["dataset"], row["shape"], str(row["trials"]), _percent(row["best_value"]),
                      row["recorded_at"], row["run_dir"])
    console().print(table)
    if not searches:
        console().print("no search recorded yet: every finished 'autometa search' adds itself", highlight=False)


@experience_app.command("show")
def experience_show(name: NameArgument, as_json: JsonOption = False) -> None:
    """One recorded search: its meta-features, where it was warm-started from, and its best trials."""
    search = _store().find(name)
    if as_json:
        typer.echo(json.dumps(search.as_dict(), indent=2, default=str))
        return
    from rich.table import Table

    out = console()
    row = _overview(search)
    out.print(f"[bold]{search.name}[/]  {row['dataset']}, {row['shape']}, {row['trials']} trials, "
              f"best val {_percent(row['best_value'])}, recorded {row['recorded_at']}", highlight=False)
    out.print(f"run directory: {search.key}   fingerprint: {search.fingerprint}", highlight=False, soft_wrap=True)
    if search.warm_start.get("sources"):
        names = ", ".join(source["name"] for source in search.warm_start["sources"])
        out.print(f"warm-started from: {names}", highlight=False)
    features = Table(title="meta-features", title_justify="left")
    features.add_column("feature")
    features.add_column("value", justify="right")
    for feature, value in search.meta_features.items():
        features.add_row(feature, f"{value:g}")
    out.print(features)
    trials = Table(title="best trials", title_justify="left")
    for column in ("#", "val", "seconds", "params"):
        trials.add_column(column, justify="left" if column == "params" else "right")
    for trial in search.ranked()[:10]:
        params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        seconds = f"{trial.seconds:.1f}" if trial.seconds is not None else "-"
        trials.add_row(str(trial.number), _percent(trial.values[0]), seconds, params)
    out.print(trials)


@experience_app.command("forget")
def experience_forget(name: NameArgument) -> None:
    """Remove a recorded search from the store (its run directory is left alone)."""
    search = _store().forget(name)
    typer.echo(f"forgot {search.name} ({search.key}); its run directory is untouched")


def _overview(search: SearchRecord) -> dict:
    shape = search.evaluation
    return {
        "name": search.name,
        "run_dir": search.key,
        "dataset": search.dataset,
        "shape": f"{shape['ways']}-way {shape['shots']}-shot",
        "trials": len(search.trials),
        "best_value": search.best_value,
        "recorded_at": search.recorded_at,
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
