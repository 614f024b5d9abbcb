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
