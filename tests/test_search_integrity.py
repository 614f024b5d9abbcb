"""The run directory and its storage are never mixed, a failed start leaves nothing, I/O failures are one line.

Runs the real search on `test_search.py`'s toy plugin, in this process (the
command line through ``autometa.cli.main``, its one-line errors read from stderr).
"""

from __future__ import annotations

import errno
import json
import sys

import optuna
import pytest
import yaml
from test_search import toy_plugin, write_recipe  # noqa: F401 (the autouse fixture loads the toy plugin)

from autometa.errors import DataError, RecipeError, RunDirectoryError
from autometa.plugins import default_host
from autometa.search import STUDY_NAME, run_search
from autometa.search.report import write_report
from autometa.search.summary import SearchSummary, TrialSummary


def edit_recipe(path: str, **sections) -> str:
    """Rewrite the recipe at ``path`` with ``sections`` replaced (a dict is merged into the section)."""
    data = yaml.safe_load(open(path, encoding="utf-8"))
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def cli(monkeypatch, capfd, *args: str) -> tuple[int, str]:
    """``autometa <args>`` in this process: (exit code, stderr)."""
    from autometa.cli.app import main

    capfd.readouterr()
    monkeypatch.setattr(sys, "argv", ["autometa", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capfd.readouterr().err


def snapshot(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def searched(tmp_path):
    """A finished two-trial search: (recipe path, run directory)."""
    path = write_recipe(tmp_path)
    run_search(path, default_host(), quiet=True)
    return path, tmp_path / "runs" / "toy"


@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_an_emptied_or_deleted_storage_next_to_trial_folders_is_refused(searched, damage):
    path, run = searched
    trials = snapshot(run / "trials")
    if damage == "emptied":
        (run / "study.db").write_bytes(b"")
    else:
        (run / "study.db").unlink()
    with pytest.raises(RunDirectoryError, match=r"has 2 trial folders but storage sqlite:///.*holds none"):
        run_search(path, default_host(), quiet=True)
    assert snapshot(run / "trials") == trials  # nothing trained on old checkpoints, nothing overwritten
    assert not (run / "study.db").exists() or (run / "study.db").stat().st_size == 0


def test_a_storage_holding_another_study_is_refused_for_this_run_directory(searched, tmp_path):
    path, run = searched
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with pytest.raises(RunDirectoryError, match="holds none of their trials"):  # an empty storage
        run_search(path, default_host(), quiet=True, storage=other)
    assert STUDY_NAME not in optuna.get_all_study_names(other)  # and nothing was created in it
    elsewhere = edit_recipe(str(tmp_path / "toy.yaml"), output_dir=str(tmp_path / "elsewhere"))
    run_search(elsewhere, default_host(), quiet=True, storage=other)  # the same recipe's study, another run
    back = edit_recipe(elsewhere, output_dir=str(tmp_path / "runs"))
    with pytest.raises(RunDirectoryError, match="its trials belong to another study"):
        run_search(back, default_host(), quiet=True, storage=other)
    assert json.loads((run / "study.json").read_text())["storage"] == f"sqlite:///{run / 'study.db'}"


def test_a_second_recipe_on_the_same_storage_is_refused_and_leaves_nothing(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = write_recipe(tmp_path)
    run_search(first, default_host(), quiet=True, storage=storage)
    before = [(t.number, t.state, t.params) for t in optuna.load_study(study_name=STUDY_NAME, storage=storage).trials]
    other = write_recipe(tmp_path, name="other", strategy={"outer_lr": {"log_uniform": [0.2, 0.5]}})
    with pytest.raises(RunDirectoryError, match=r"holds the search of recipe 'toy', a different problem") as info:
        run_search(other, default_host(), quiet=True, storage=storage)
    assert "\n" not in str(info.value)
    same_name = edit_recipe(write_recipe(tmp_path, strategy={"outer_lr": {"log_uniform": [0.2, 0.5]}}),
                            output_dir=str(tmp_path / "elsewhere"))
    with pytest.raises(RunDirectoryError, match="holds the search of another recipe"):
        run_search(same_name, default_host(), quiet=True, storage=storage)
    after = [(t.number, t.state, t.params) for t in optuna.load_study(study_name=STUDY_NAME, storage=storage).trials]
    assert after == before
    assert not (tmp_path / "runs" / "other").exists() and not (tmp_path / "elsewhere").exists()


def test_a_failed_data_check_leaves_nothing_behind(tmp_path):
    path = write_recipe(tmp_path)
    edit_recipe(path, evaluation={"ways": 50})
    with pytest.raises(DataError):
        run_search(path, default_host(), quiet=True)
    assert not (tmp_path / "runs" / "toy").exists()
    storage = f"sqlite:///{tmp_path / 'outside.db'}"
    with pytest.raises(DataError):
        run_search(path, default_host(), quiet=True, storage=storage)
    assert STUDY_NAME not in optuna.get_all_study_names(storage)
    edit_recipe(path, evaluation={"ways": 3})  # the corrected recipe runs
    assert run_search(path, default_host(), quiet=True).counts()["complete"] == 2


@pytest.mark.parametrize("name", ["../../../../outside", "/tmp/absolute", "", ".", "a/b"])
def test_a_run_name_must_be_one_folder_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    path = edit_recipe(write_recipe(tmp_path), name=name)
    with pytest.raises(RecipeError, match="a run name is one folder name"):
        run_search(path, default_host(), quiet=True)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "study.db").exists()


def test_an_output_dir_that_is_a_file_is_one_line_exit_2(tmp_path, monkeypatch, capfd):
    path = edit_recipe(write_recipe(tmp_path), output_dir="/etc/passwd")
    code, err = cli(monkeypatch, capfd, "search", path, "--quiet")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: /etc/passwd/toy: a part of the path is a file, not a folder; choose another")


def test_an_unwritable_output_dir_is_one_line_exit_2(tmp_path, monkeypatch, capfd):
    path = write_recipe(tmp_path)
    real_mkdir = type(tmp_path).mkdir

    def mkdir(self, *args, **kwargs):  # as for a folder without write permission (root ignores chmod)
        if "runs" in self.parts:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "mkdir", mkdir)
    code, err = cli(monkeypatch, capfd, "search", path, "--quiet")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / 'runs' / 'toy'}: permission denied; choose a path you may write to")


def test_a_full_disk_is_one_line_exit_1_and_the_report_keeps_its_figures(searched, monkeypatch, capfd):
    path, run = searched
    report = (run / "report.md").read_text()
    assert "test accuracy" in report and "% +- " in report
    edit_recipe(path, search={"trials": 3})
    import torch

    def full(obj, target, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(torch, "save", full)  # every checkpoint write, as on a full disk
    code, err = cli(monkeypatch, capfd, "search", path, "--quiet")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "no space left on the device; free some space, then run the same command again" in err
    def winner(text: str) -> str:
        return text.split("## Best trial")[1].split("## All trials")[0]

    assert winner((run / "report.md").read_text()) == winner(report)  # the winner and its test score
    assert "Traceback" in (run / "search.log").read_text()

    monkeypatch.undo()  # space freed: the cut-off trial is retried and the budget finished
    summary = run_search(path, default_host(), quiet=True)
    assert summary.counts()["complete"] == 3 and summary.test


def test_the_report_is_never_replaced_by_one_with_fewer_results(tmp_path, searched):
    _, run = searched
    before = (run / "report.md").read_text()
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    from autometa.recipe import Recipe

    empty = SearchSummary(name="toy", run_dir=run, storage="x", objectives=["accuracy"], target_trials=2,
                          trials=[TrialSummary(0, "complete", [0.5], {})], best=[0], test={}, elapsed_s=0.0)
    write_report(run / "report.md", empty, Recipe.model_validate(recipe))
    assert (run / "report.md").read_text() == before
