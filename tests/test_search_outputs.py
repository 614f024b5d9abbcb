"""What a search leaves for people and tools: plain progress lines in a log, learning curves in
metrics.json, the episode preview, report.html, `autometa report`, and the study's Optuna artifacts.

Most tests share one tiny search run as a user would, stderr redirected to a file
(the ``searched_run`` fixture in conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from typer.testing import CliRunner

from autometa.cli import app
from autometa.search import STUDY_NAME
from autometa.search.preview import read_preview

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def load_study(run_dir):
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{run_dir / 'study.db'}")


def test_a_search_logging_to_a_file_prints_one_plain_line_per_trial_event(searched_run):
    run_dir, stderr = searched_run
    lines = stderr.splitlines()
    assert "\x1b" not in stderr and "\r" not in stderr  # no colour, no live redraws
    assert [line for line in lines if not re.match(STAMP + " ", line)] == []
    trials = load_study(run_dir).trials
    states = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    assert {states[t.state.name] for t in trials} == {"complete", "pruned", "failed"}
    for trial in trials:
        started = [line for line in lines if f" trial {trial.number} started: " in line]
        assert len(started) == 1 and f"outer_lr={trial.params['outer_lr']:.3g}" in started[0]
        validations = [line for line in lines if f" trial {trial.number} validation at step " in line]
        history = json.loads((run_dir / "trials" / str(trial.number) / "metrics.json").read_text())["history"]["val"]
        assert [int(re.search(r"step (\d+)/4", line).group(1)) for line in validations] == [p["step"] for p in history]
        ended = [line for line in lines if re.search(rf" trial {trial.number} (complete|pruned|failed)", line)]
        assert len(ended) == 1 and states[trial.state.name] in ended[0] and f"/{len(trials)} done" in ended[0]
    assert sum(" eta " in line for line in lines) == len(trials) - 1  # every finished trial but the last
    assert re.search(rf"search toy: {len(trials)}/{len(trials)} trials finished in \d+ s$", lines[-2])
    assert lines[-1].endswith(f"compressing and exporting trial {load_study(run_dir).best_trial.number} into "
                              f"{run_dir / 'artifacts'}")


def test_metrics_json_keeps_each_trials_learning_curve(searched_run):
    run_dir, _ = searched_run
    for trial in load_study(run_dir).trials:
        metrics = json.loads((run_dir / "trials" / str(trial.number) / "metrics.json").read_text())
        val, train = metrics["history"]["val"], metrics["history"]["train"]
        if trial.state.name == "FAIL":  # the toy plugin raises in its first meta-step
            assert val == [] and train == [] and "toy plugin bug" in metrics["reason"]
            continue
        assert [p["step"] for p in val] == sorted(trial.intermediate_values)
        reported = [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]
        assert [p["mean"] for p in val] == pytest.approx(reported, abs=1e-6)
        assert all(p["n"] == 6 and p["ci95"] >= 0 for p in val)
        assert [r["step"] for r in train] == list(range(1, val[-1]["step"] + 1))  # meta_steps // 20 rounds down to 1
        assert {"loss", "accuracy", "lr", "grad_norm"} <= set(train[0])


def test_the_winners_validation_episodes_are_kept_with_its_predictions(searched_run):
    run_dir, _ = searched_run
    trial, episodes = read_preview(run_dir / "best" / "val_preview.npz")
    assert trial == load_study(run_dir).best_trial.number and len(episodes) == 3
    for episode in episodes:
        assert episode.support.dtype.name == "uint8" and episode.support.shape == (3, 1, 8, 8)  # 3-way 1-shot
        assert episode.query.shape == (6, 1, 8, 8) and episode.predicted.shape == (6,)
        assert sorted(set(episode.query_labels.tolist())) == [0, 1, 2] and len(episode.class_names) == 3
        assert all(name.startswith("val/") for name in episode.class_names)


def test_the_search_writes_a_self_contained_html_report(searched_run):
    run_dir, _ = searched_run
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert (run_dir / "report.html").stat().st_size < 2 * 1024 * 1024  # small enough to e-mail
    assert "<script" not in page.lower()
    outside = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    outside = outside.replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert not re.search(r"(https?:)?//[a-z]", outside.replace("sqlite:///", "")), "a reference outside the file"
    for figure in ("fig-history", "fig-importances", "fig-slice", "fig-parallel", "fig-pruning", "fig-curves",
                   "fig-spread", "fig-compression"):
        assert re.search(rf'<figure class="plot" id="{figure}"><svg', page), figure
    assert page.count('<figure class="tile') == 3 * (3 + 6)  # the preview: support and queries of 3 episodes
    assert "toy plugin bug" in page and "pruned at step 2" in page  # why trials stopped
    if importlib.util.find_spec("sklearn") is None:
        assert "fANOVA skipped: it needs scikit-learn" in page
    assert "optuna-dashboard sqlite:///" in page and "--artifact-dir" in page


def test_autometa_report_rewrites_the_page_and_names_a_bad_run_directory(searched_run, tmp_path, monkeypatch, capsys):
    run_dir, _ = searched_run
    out = tmp_path / "copy.html"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "KiB" in result.output
    assert out.read_text() == (run_dir / "report.html").read_text()  # the same run gives the same page

    from autometa.cli.app import main  # the real entry point: one line and exit code 2, no traceback

    for bad, why in ((tmp_path / "missing", "no such run directory"), (tmp_path, "no study.db or journal.log")):
        monkeypatch.setattr(sys, "argv", ["autometa", "report", str(bad)])
        with pytest.raises(SystemExit) as info:
            main()
        error = capsys.readouterr().err
        assert info.value.code == 2 and error.count("\n") == 1 and why in error and "Traceback" not in error


def dashboard(run_dir, path: str, *, raw: bool = False):
    """What ``optuna-dashboard sqlite:///RUN_DIR/study.db --artifact-dir RUN_DIR/artifacts-store`` answers."""
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import wsgi

    application = wsgi(f"sqlite:///{run_dir / 'study.db'}", FileSystemArtifactStore(run_dir / "artifacts-store"))
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    status = []
    body = b"".join(application(environ, lambda code, headers, exc_info=None: status.append(code)))
    assert status == ["200 OK"], (path, status)
    return body if raw else json.loads(body)


def test_the_dashboard_shows_each_trials_files_and_the_report(searched_run):
    run_dir, _ = searched_run
    (study,) = dashboard(run_dir, "/api/studies")["study_summaries"]
    detail = dashboard(run_dir, f"/api/studies/{study['study_id']}")
    for trial in detail["trials"]:
        assert sorted(a["filename"] for a in trial["artifacts"]) == ["log.txt", "metrics.json"]
    files = {a["filename"]: a for a in detail["artifacts"]}
    assert set(files) == {"report.html", "report.md", "model_card.md", "model_card.json"}
    served = dashboard(run_dir, f"/artifacts/{study['study_id']}/{files['report.html']['artifact_id']}", raw=True)
    assert served == (run_dir / "report.html").read_bytes()


def test_a_rerun_replaces_the_attached_report_instead_of_adding_one(searched_run):
    from autometa.search.study_artifacts import StudyArtifacts

    run_dir, _ = searched_run
    study = load_study(run_dir)
    store = StudyArtifacts(run_dir / "artifacts-store")
    before = store.study_files(study)
    store.attach_to_study(study, [run_dir / "report.html"])  # unchanged: kept as is
    assert store.study_files(study) == before
    page = run_dir / "report.html"
    original = page.read_bytes()
    try:
        page.write_bytes(original + b"<!-- newer -->")
        store.attach_to_study(study, [page])
        after = store.study_files(study)
        assert sorted(after.values()) == sorted(before.values())  # still one report.html
        (new_id,) = [a for a, name in after.items() if name == "report.html"]
        assert (run_dir / "artifacts-store" / new_id).read_bytes().endswith(b"<!-- newer -->")
        assert not [a for a in before if a not in after and (run_dir / "artifacts-store" / a).exists()]
    finally:
        page.write_bytes(original)
        store.attach_to_study(study, [page])


def test_a_report_reads_a_journal_storage_and_runs_from_before_learning_curves(searched_run, tmp_path):
    """A study kept in a journal file (``--workers``), and trials whose metrics.json has no ``history``
    (an older autometa): their validation curve comes from what Optuna stored."""
    import shutil

    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from autometa.search.report_html import write_html_report
    from autometa.search.report_html.run_data import load_run, open_study_readonly

    run_dir, _ = searched_run
    copy = tmp_path / "toy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("study.db"))
    journal = str(copy / "journal.log")
    optuna.copy_study(from_study_name=STUDY_NAME, from_storage=f"sqlite:///{run_dir / 'study.db'}",
                      to_storage=JournalStorage(JournalFileBackend(journal)))
    for metrics_file in copy.glob("trials/*/metrics.json"):
        metrics = json.loads(metrics_file.read_text())
        del metrics["history"]
        metrics_file.write_text(json.dumps(metrics))
    run = load_run(copy, open_study_readonly(journal), journal)
    original = load_run(run_dir, load_study(run_dir), "sqlite")
    for old, new in zip(original.trials, run.trials):
        assert [(p.step, round(p.mean, 5), round(p.ci95, 5)) for p in new.val] == [
            (p.step, round(p.mean, 5), round(p.ci95, 5)) for p in old.val]
        assert new.train == []
    page = write_html_report(copy).read_text()
    assert f"optuna-dashboard {journal}" in page and page.count('<td class=num>') > 7


def test_the_report_never_shows_a_storage_password(searched_run):
    from autometa.search.report_html import build_html_report

    run_dir, _ = searched_run
    page = build_html_report(run_dir, load_study(run_dir), "postgresql://autometa:s3cret@db.example:5432/studies")
    assert "s3cret" not in page and "postgresql://autometa:***@db.example:5432/studies" in page


def test_many_trials_are_drawn_as_cells_of_one_axes(searched_run):
    from autometa.search.report_html.run_data import load_run
    from autometa.search.report_html.trial_figures import SUBPLOT_LIMIT, curves_figure

    run_dir, _ = searched_run
    run = load_run(run_dir, load_study(run_dir), "sqlite")
    assert len([ax for ax in curves_figure(run).axes if ax.get_visible()]) == len(run.trials)
    run.trials = (run.trials * SUBPLOT_LIMIT)[: SUBPLOT_LIMIT + 1]
    assert len(curves_figure(run).axes) == 1  # matplotlib's cost is per Axes: 80 trials stay seconds


def test_a_multi_objective_report_draws_the_pareto_front(tmp_path):
    from test_search import PLUGIN

    from autometa.plugins import default_host
    from autometa.search import run_search

    default_host().load_module(PLUGIN)
    try:
        from test_search import write_recipe

        run_search(write_recipe(tmp_path, search={"trials": 3, "objectives": ["accuracy", "params"]}), default_host(),
                   quiet=True)
    finally:
        default_host().reset()
    page = (tmp_path / "runs" / "toy" / "report.html").read_text()
    assert re.search(r'<figure class="plot" id="fig-pareto"><svg', page) and "Pareto front" in page
    assert "Multi-objective searches are not pruned" in page
    metrics = json.loads((tmp_path / "runs" / "toy" / "trials" / "0" / "metrics.json").read_text())
    assert [p["step"] for p in metrics["history"]["val"]] == [2, 4]  # Optuna stores no curve for several objectives


def test_a_report_that_cannot_be_built_is_one_warning_not_a_failed_search(tmp_path, monkeypatch, capsys):
    from test_search import PLUGIN, write_recipe

    from autometa.data import progress
    from autometa.plugins import default_host
    from autometa.search import publish, run_search

    def broken(*args, **kwargs):
        raise MemoryError("no room for plots")

    monkeypatch.setattr(publish, "write_html_report", broken)
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: False)
    default_host().load_module(PLUGIN)
    try:
        summary = run_search(write_recipe(tmp_path, search={"trials": 1}), default_host())
    finally:
        default_host().reset()
    assert summary.counts()["complete"] == 1 and (tmp_path / "runs" / "toy" / "report.md").is_file()
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert "report.html not written (MemoryError: no room for plots); retry with 'autometa report" in warning
