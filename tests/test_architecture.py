"""The architecture of docs/architecture.md holds: no import cycles, packages depend only on those
below them, the core never imports a plugin, built-ins use only the public plugin API, and
``autometa --help`` imports no torch."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "autometa"
BUILTINS = ROOT / "plugins"

#: Bottom to top, as docs/architecture.md draws them (read from there by the test below).
LAYERS = ["errors", "components", "recipe", "data", "learning", "deploy", "plugins", "experience", "search", "authoring", "cli"]
#: The lazy public API and the deprecation finder import by name at run time, not as a layer.
OUTSIDE_LAYERS = {"autometa", "autometa._moved", "autometa.__main__"}


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports_of(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (function-local imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return found


def core_graph() -> dict[str, set[str]]:
    modules = {module_name(p, CORE, "autometa"): p for p in CORE.rglob("*.py")}
    return {name: {m for m in imports_of(path, name) if m in modules and m != name} for name, path in modules.items()}


def test_no_import_cycles_in_the_core():
    graph = core_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            # a package's __init__ importing its own modules is how it names its public pieces
            if child.startswith(node + "."):
                continue
            if state.get(child) == 1:
                cycle = stack[stack.index(child):] + [child]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(child) is None:
                visit(child)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_packages_depend_only_on_packages_below_them():
    upward = []
    for module, imported in core_graph().items():
        here = layer_of(module)
        if module in OUTSIDE_LAYERS or here is None:
            continue
        for target in imported:
            there = layer_of(target)
            if target not in OUTSIDE_LAYERS and there is not None and there > here:
                upward.append(f"{module} imports {target}")
            if _is_public_name(target):
                upward.append(f"{module} imports {target} from the lazy public API (import the defining module)")
    assert upward == []


def test_the_layers_are_the_ones_docs_architecture_draws():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    picture = text.split("```")[1]
    drawn = re.findall(r"^  (\w+)(?:/|\.py)", picture, re.M)
    assert list(reversed([name for name in drawn if name in LAYERS])) == LAYERS
    on_disk = {p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {"errors"}
    assert on_disk == set(LAYERS)


def test_the_core_never_imports_a_plugin():
    offenders = [
        f"{module}: {target}"
        for module, path in ((module_name(p, CORE, "autometa"), p) for p in CORE.rglob("*.py"))
        for target in imports_of(path, module)
        if target.split(".")[0] == "autometa_plugins"
    ]
    assert offenders == []


def test_builtin_plugins_use_only_the_public_plugin_api():
    offenders = [
        f"{path.relative_to(ROOT)}: {target}"
        for path in BUILTINS.rglob("*.py")
        for target in imports_of(path, module_name(path, BUILTINS, "autometa_plugins"))
        if target.split(".")[0] == "autometa" and target != "autometa" and not _is_public_name(target)
        and target != "autometa.__version__"
    ]
    assert offenders == []


def _is_public_name(target: str) -> bool:
    """``autometa.GradientLearner`` (from ``from autometa import GradientLearner``) is public API."""
    import autometa

    head, _, name = target.rpartition(".")
    return head == "autometa" and name in autometa.__all__ and name != "__version__"


def test_every_public_name_resolves():
    import autometa

    for name in autometa.__all__:
        assert getattr(autometa, name) is not None, name


def test_help_imports_no_torch():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sys; sys.argv = ['autometa', '--help'];"
         "from autometa.cli import main; main()"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not {"torch", "optuna"} & imported


def test_old_import_paths_still_work_with_a_deprecation_warning():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    from autometa.inner_loop import GradientLearner\nexcept DeprecationWarning as w:\n    print(w)\n"
        "warnings.simplefilter('ignore')\n"
        "from autometa.inner_loop import GradientLearner, InnerOptimizer\n"
        "from autometa.trainer import train\nfrom autometa.hookspecs import hookimpl\n"
        "from autometa.compression import Pruner\nfrom autometa.testing import run_tiny_search\n"
        "import autometa.learning\nassert GradientLearner is autometa.learning.GradientLearner\nprint('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    warning, ok = done.stdout.strip().splitlines()
    assert "autometa.inner_loop is deprecated; import from autometa.learning" in warning and ok == "ok"


def test_no_module_is_over_400_lines_and_each_says_why_first():
    for path in CORE.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= 400, f"{path.relative_to(ROOT)} has {len(lines)} lines"
        docstring = ast.get_docstring(ast.parse("\n".join(lines)))
        assert docstring and docstring.strip(), f"{path.relative_to(ROOT)} has no module docstring"
