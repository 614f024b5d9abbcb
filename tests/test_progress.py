"""Progress that reaches any terminal or log: `autometa.track` for data preparation, the search's
plain lines off a terminal, and the live view's final frame counting every finished trial."""

from __future__ import annotations

import io
import re

from rich.console import Console
from test_search import toy_plugin, write_recipe  # noqa: F401  (toy_plugin: the toy data and learner)

from autometa import track
from autometa.data import progress
from autometa.plugins import default_host
from autometa.recipe import load_recipe
from autometa.search import run as search_run
from autometa.search import run_search
from autometa.search.log_view import LogView, search_view
from autometa.search.view import SearchView

STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "


def test_track_off_a_terminal_prints_timestamped_lines_now_and_then(capsys, monkeypatch):
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: False)
    assert list(track(range(5), "decoding things", every_s=0)) == [0, 1, 2, 3, 4]
    lines = capsys.readouterr().err.splitlines()
    assert all(re.match(STAMP, line) for line in lines)
    texts = [line.split(" ", 1)[1] for line in lines]
    assert texts[0] == "decoding things: started (5 steps)"
    assert texts[1].startswith("decoding things: 1/5 (20%), ") and ", eta " in texts[1]
    assert len(texts) == 6 and re.fullmatch(r"decoding things: 5/5 \(100%\) done in \d+ s", texts[-1])

    list(track(iter(range(3)), "rendering", every_s=3600))  # no length, no line in between
    assert [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()] == [
        "rendering: started", "rendering: 3 done in 0 s"]


def test_track_in_a_terminal_draws_a_bar_and_is_silent_when_silenced(capsys, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # what rich reads to treat stderr as a terminal
    monkeypatch.delenv("TERM", raising=False)
    assert progress.stderr_is_terminal()
    assert list(track(range(3), "rendering glyphs")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "rendering glyphs" in err and "━" in err and not re.search(STAMP, err, re.M)
    with progress.silenced():
        assert list(track(range(3), "quiet")) == [0, 1, 2]
        progress.say("nothing")
    assert capsys.readouterr().err == ""


def test_the_search_view_suits_stderr(tmp_path, monkeypatch):
    recipe = load_recipe(write_recipe(tmp_path), default_host().registry)
    monkeypatch.setattr("autometa.search.log_view.stderr_is_terminal", lambda: False)
    assert isinstance(search_view(recipe, quiet=False), LogView)
    assert isinstance(search_view(recipe, quiet=True), SearchView)
    monkeypatch.setattr("autometa.search.log_view.stderr_is_terminal", lambda: True)
    assert isinstance(search_view(recipe, quiet=False), SearchView)


def test_the_live_views_last_frame_counts_every_finished_trial(tmp_path, monkeypatch):
    """Each trial reports its end before Optuna marks it finished; the final frame must still say 3/3."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=150)
    frames: list[str] = []

    def recording_view(recipe, *, quiet):
        view = SearchView(recipe, quiet=False, console=console)
        original = view._refresh

        def refresh(finishing: int = 0):
            original(finishing)
            frames.append(f"{int(view.progress.tasks[0].completed)}/{int(view.progress.tasks[0].total)}")

        view._refresh = refresh
        return view

    monkeypatch.setattr(search_run, "search_view", recording_view)
    run_search(write_recipe(tmp_path, search={"trials": 3}), default_host())
    assert frames[-1] == "3/3" and "3/3" in frames[:-1]  # each trial counted as it ends, and at the end
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # without the terminal's control codes
    assert "3/3" in drawn.rsplit("search toy", 1)[1].splitlines()[0]


def test_a_log_view_line_names_state_reason_and_eta(capsys, tmp_path, monkeypatch):
    recipe = load_recipe(write_recipe(tmp_path), default_host().registry)
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: False)
    view = LogView(recipe)
    view.remaining = 3
    view.trial_started(0, 4, {"outer_lr": 0.0123, "learner": "search_toy"})
    view.trial_finished(0, "pruned", None, "pruned at step 2: val accuracy 0.2500")
    view.trial_finished(1, "failed", None, "RuntimeError: toy plugin bug")
    view.trial_finished(2, "complete", [0.875], None)
    texts = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert texts[0] == "trial 0 started: outer_lr=0.0123 learner=search_toy"
    assert re.fullmatch(r"trial 0 pruned at step 2: val accuracy 0\.2500 \| 1/3 done, eta \d+ s", texts[1])
    assert texts[2].startswith("trial 1 failed: RuntimeError: toy plugin bug | 2/3 done, eta ")
    assert texts[3] == "trial 2 complete: accuracy 87.50% | 3/3 done, best #2 87.50%"


def test_a_quiet_search_prints_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: False)
    run_search(write_recipe(tmp_path), default_host(), quiet=True)
    assert capsys.readouterr().err == ""
