"""The command line: instant help, version, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

from autometa import __version__


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autometa.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from autometa import cli\n"
        "sys.argv = ['autometa', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'optuna', 'torchvision', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Usage" in result.stdout
    assert "HEAVY=\n" in result.stdout, result.stdout[-300:]


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"autometa {__version__}"


def test_recipe_schema_is_json_schema_with_strategy():
    result = run_cli("recipe", "schema")
    schema = json.loads(result.stdout)
    assert schema["$defs"]["Strategy"]["properties"]["learner"]
    assert schema["additionalProperties"] is False


def test_usage_error_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsead: 1\ndata: {dataset: glyphs}\nstrategy: {learner: protonet}\n")
    result = run_cli("recipe", "validate", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "bad.yaml:2: sead: unknown key 'sead'; did you mean 'seed'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_recipe_file_exit_2(tmp_path):
    result = run_cli("recipe", "validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "recipe file not found" in result.stderr


def test_unknown_command_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "recipe", "validate", str(tmp_path / "missing.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr


BLOBS_PLUGIN = """
from autometa import hookimpl
from doubles import NoiseBlobs

@hookimpl
def register_datasets():
    return [NoiseBlobs]
"""


def _validate_with_blobs(tmp_path, strategy: str, evaluation: str) -> subprocess.CompletedProcess:
    import os
    from pathlib import Path

    (tmp_path / "blobs_plugin.py").write_text(BLOBS_PLUGIN)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: r\ndata: {{dataset: noise_blobs, cache_dir: {tmp_path}}}\n"
        f"evaluation: {evaluation}\nstrategy: {strategy}\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).parent}"}
    return subprocess.run(
        [sys.executable, "-m", "autometa.cli", "--plugin", "blobs_plugin", "recipe", "validate", str(recipe)],
        capture_output=True, text=True, timeout=300, env=env,
    )


def test_more_ways_than_a_split_has_classes_is_caught_by_validate(tmp_path):
    ok = _validate_with_blobs(tmp_path, "{learner: protonet, train_episodes: {queries: 2}}", "{ways: 5, queries: 5}")
    assert ok.returncode == 0, ok.stderr
    assert "classes: train 6, val 5, test 5" in ok.stdout
    too_many = _validate_with_blobs(tmp_path, "{learner: protonet}", "{ways: 7, shots: 1, queries: 1}")
    assert too_many.returncode == 2 and too_many.stderr.count("\n") == 1, too_many.stderr
    assert "meta-val split has 5 classes but the episode shape asks for 7 ways" in too_many.stderr
    searched = _validate_with_blobs(
        tmp_path, "{learner: protonet, train_episodes: {ways: {choice: [3, 9]}, queries: 2}}", "{ways: 2, queries: 2}"
    )
    assert searched.returncode == 2 and "asks for 9 ways" in searched.stderr and "meta-train" in searched.stderr
