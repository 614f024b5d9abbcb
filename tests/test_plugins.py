"""The plugin manager: entry points, --plugin, autoload switch, clashes and broken plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autometa.plugins import DISABLE_AUTOLOAD_ENV, default_host
from autometa.recipe import parse_recipe

PLUGIN_SOURCE = '''
"""An autometa plugin that lives outside the repository."""
from autometa.components import PluginOptions
from autometa import hookimpl
from autometa import Regularizer


class TinyL2(Regularizer):
    """Adds a tiny L2 penalty on the meta-parameters."""

    name = "tiny_l2"

    class Options(PluginOptions):
        weight: float = 1e-4


@hookimpl
def register_regularizers():
    return [TinyL2]
'''


def make_distribution(root: Path, dist: str, module: str, source: str, entry_name: str | None = None) -> Path:
    """Write an installed-looking distribution (module + .dist-info with an entry point) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[autometa]\n{entry_name or module} = {module}\n")
    return root


@pytest.fixture
def fresh_plugins():
    default_host().reset()
    yield
    default_host().reset()


@pytest.fixture
def external_plugin(tmp_path, monkeypatch, fresh_plugins):
    site = make_distribution(tmp_path / "site", "autometa-tiny-l2", "tiny_l2_plugin", PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(site))
    import importlib

    importlib.invalidate_caches()
    return site


def test_external_distribution_is_listed_with_its_distribution(external_plugin):
    entry = default_host().registry.get("regularizer", "tiny_l2")
    assert entry.source.distribution == "autometa-tiny-l2"
    assert entry.source.version == "1.2.3"
    assert entry.description == "Adds a tiny L2 penalty on the meta-parameters."


def test_external_plugin_is_usable_by_name_in_a_recipe(external_plugin):
    registry = default_host().registry
    learner = registry.names("learner")[0]
    dataset = registry.names("dataset")[0]
    recipe = parse_recipe(
        textwrap.dedent(
            f"""
            name: ext
            data: {{dataset: {dataset}}}
            strategy:
              learner: {learner}
              regularizers: [{{tiny_l2: {{weight: {{log_uniform: [1.0e-5, 1.0e-3]}}}}}}]
            """
        )
    , default_host().registry)
    assert recipe.strategy["regularizers"][0]["tiny_l2"]["weight"]["log_uniform"] == [1e-5, 1e-3]
    built = registry.create("regularizer", {"tiny_l2": {"weight": 0.5}})
    assert built.options.weight == 0.5


def test_disabling_autoload_skips_third_party_but_keeps_builtins(external_plugin, monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    registry = default_host().registry
    assert "tiny_l2" not in registry.names("regularizer")
    assert registry.names("learner"), "built-in plugins must still load"


def test_clashing_name_is_a_problem_not_a_crash(tmp_path, monkeypatch, fresh_plugins):
    clash = PLUGIN_SOURCE
    site = make_distribution(tmp_path / "a", "first-dist", "first_plugin", clash)
    make_distribution(tmp_path / "b", "second-dist", "second_plugin", clash)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    registry = default_host().registry
    assert "tiny_l2" in registry.names("regularizer")
    [problem] = [p for p in registry.problems if "already registered" in p.message]
    assert "tiny_l2" in str(problem) and "rename" in str(problem)


def test_broken_plugin_is_reported_with_its_distribution(tmp_path, monkeypatch, fresh_plugins):
    site = make_distribution(tmp_path / "s", "broken-dist", "broken_plugin", "raise ImportError('boom')\n")
    monkeypatch.syspath_prepend(str(site))
    registry = default_host().registry
    [problem] = [p for p in registry.problems if p.source.distribution == "broken-dist"]
    assert "failed to import" in str(problem) and "boom" in str(problem)
    assert registry.names("learner"), "other plugins still load"


def _cli(*args: str, env_path: Path | None = None, **variables: str) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ) | variables
    if env_path is not None:
        env["PYTHONPATH"] = f"{env_path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "autometa.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_plugins_list_json_shows_external_and_builtin(tmp_path):
    site = make_distribution(tmp_path / "site", "autometa-tiny-l2", "tiny_l2_plugin", PLUGIN_SOURCE)
    result = _cli("plugins", "list", "--json", env_path=site)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["components"]
    by_name = {(r["kind"], r["name"]): r for r in rows}
    assert by_name[("regularizer", "tiny_l2")]["distribution"] == "autometa-tiny-l2"
    assert all(r["distribution"] for r in rows)
    assert any(r["distribution"] == "autometa" for r in rows)


def test_cli_plugin_option_loads_a_module_by_dotted_path(tmp_path):
    (tmp_path / "dotted_plugin.py").write_text(PLUGIN_SOURCE)
    result = _cli("--plugin", "dotted_plugin", "plugins", "list", "--json", env_path=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["components"]
    [row] = [r for r in rows if r["name"] == "tiny_l2"]
    assert row["distribution"] == "--plugin"


def test_cli_plugins_list_table_fits_80_columns_with_whole_names_under_kind_headings(tmp_path):
    site = make_distribution(tmp_path / "site", "autometa-tiny-l2", "tiny_l2_plugin", PLUGIN_SOURCE)
    result = _cli("plugins", "list", env_path=site, COLUMNS="80")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    firsts = [line.split()[0] for line in lines if line.strip() and not line.strip().startswith("─")]
    rows = json.loads(_cli("plugins", "list", "--json", env_path=site).stdout)["components"]
    for kind in {r["kind"] for r in rows}:
        assert kind in firsts  # a heading row per kind
    for row in rows:
        line = next(line for line in lines if line.split() and line.split()[0] == row["name"])
        assert line.rstrip().endswith(f"{row['distribution']} {row['version']}")


def test_cli_unknown_plugin_module_is_one_line_exit_2():
    result = _cli("--plugin", "no_such_module_xyz", "plugins", "list")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no_such_module_xyz" in result.stderr and "Traceback" not in result.stderr
