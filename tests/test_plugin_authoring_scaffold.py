"""`autometa plugins new`: every kind's scaffold installs, passes its own tests, and runs by name."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from autometa.authoring.check import check_plugins
from autometa.authoring.scaffold import scaffold_kinds, scaffold_plugin
from autometa.errors import PluginError
from autometa.plugins import DISABLE_AUTOLOAD_ENV, KINDS, default_host


def install_on_path(project: Path, site: Path) -> None:
    """Install ``project`` the way pip's editable mode would, as far as autometa can tell.

    The package folder goes on ``sys.path`` and a ``.dist-info`` built from the
    generated ``pyproject.toml`` carries its entry points, so ``importlib.metadata``
    (and autometa's plugin loader) find it like any installed distribution.
    """
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    groups = meta["entry-points"]
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()]
    (info / "entry_points.txt").write_text("\n".join(lines))


def run_generated_tests(test_file: Path, tmp_path: Path) -> list[str]:
    """Import the generated test module and call each test (with a fresh tmp_path if it asks)."""
    spec = importlib.util.spec_from_file_location(f"generated_{test_file.stem}", test_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ran = []
    for name, test in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(test):
            kwargs = {"tmp_path": tmp_path / name} if "tmp_path" in inspect.signature(test).parameters else {}
            for folder in kwargs.values():
                folder.mkdir()
            test(**kwargs)
            ran.append(name)
    return ran


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    default_host().reset()
    yield site
    for name in [m for m in sys.modules if m.startswith("autometa_demo")]:
        del sys.modules[name]
    default_host().reset()


#: Their generated test compresses a trained predictor, exports it and verifies it in a fresh process.
_SLOW_KINDS = {"pruner", "distiller", "quantizer", "exporter"}


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.slow] if k in _SLOW_KINDS else []) for k in scaffold_kinds()]
)
def test_scaffold_installs_passes_its_own_tests_and_runs_by_name(kind, tmp_path, site, monkeypatch):
    name = f"autometa-demo-{kind.replace('_', '-')}"
    project = scaffold_plugin(name, kind, site)
    assert {p.name for p in project.iterdir()} == {"pyproject.toml", "README.md", "tests", name.replace("-", "_")}
    install_on_path(project, site)
    monkeypatch.syspath_prepend(str(project))  # what an editable install puts on the path
    default_host().reset()

    component = f"demo_{kind}"
    assert component in default_host().registry.names(kind)
    assert check_plugins(default_host(), name) == []
    ran = run_generated_tests(project / "tests" / f"test_{name.replace('-', '_')}.py", tmp_path)
    assert "test_plugin_runs_in_a_tiny_search" in ran and "test_plugin_passes_autometa_checks" in ran
    if KINDS[kind].scaffold_test == "default":  # components that shape the predictor: export it to every format
        assert "test_plugin_predictor_exports_with_every_installed_exporter" in ran


def test_scaffold_refuses_bad_names_kinds_and_existing_folders(tmp_path):
    with pytest.raises(PluginError, match="did you mean 'pruner'"):
        scaffold_plugin("autometa-x", "prunner", tmp_path)
    with pytest.raises(PluginError, match="not a valid plugin name"):
        scaffold_plugin("3 bad name", "pruner", tmp_path)
    for clashing in ("autometa", "autometa-3d", "class"):
        with pytest.raises(PluginError, match="cannot name a plugin package"):
            scaffold_plugin(clashing, "pruner", tmp_path)
    scaffold_plugin("autometa-x", "pruner", tmp_path)
    with pytest.raises(PluginError, match="already exists"):
        scaffold_plugin("autometa-x", "learner", tmp_path)


def test_every_plugin_kind_can_be_scaffolded():
    assert scaffold_kinds() == list(KINDS)


@pytest.mark.slow
def test_scaffold_with_pip_and_pytest_in_a_subprocess(tmp_path):
    """The real journey: `autometa plugins new`, `pip install -e`, `pytest`, `pip uninstall`."""
    new = subprocess.run(
        [sys.executable, "-m", "autometa.cli", "plugins", "new", "autometa-demo-pip", "--kind", "regularizer",
         "--dir", str(tmp_path)], capture_output=True, text=True,
    )
    assert new.returncode == 0, new.stderr
    project = tmp_path / "autometa-demo-pip"
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(project)], check=True)
    try:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
            capture_output=True, text=True, cwd=project,
        )
        assert tests.returncode == 0, tests.stdout[-3000:]
    finally:
        subprocess.run([*pip, "uninstall", "--yes", "autometa-demo-pip"], check=True)
