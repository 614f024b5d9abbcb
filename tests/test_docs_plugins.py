"""docs/plugins.md stays true: its hook reference is hookspecs.py's, its worked
examples are the scaffold's templates, and every Python block in it runs."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from autometa import hookspecs, plugins
from autometa.plugin_check import hook_specs
from autometa.scaffold import placeholders, render

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.S | re.M)
_SCAFFOLD = re.compile(r"<!-- scaffold: (\w+) ([\w-]+) -->\n```python\n(.*?)^```\n", re.S | re.M)
_REFERENCE = re.compile(r"<!-- hook-reference:start -->\n(.*?)<!-- hook-reference:end -->", re.S)


def hook_reference() -> str:
    """The guide's hook reference: every hook's signature and docstring, in hookspecs.py order."""
    sections = []
    for name in hook_specs():
        function = getattr(hookspecs, name)
        signature = inspect.signature(function)
        arguments = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
        heading = f"### `{name}({arguments}) -> {signature.return_annotation}`"
        sections.append(f"{heading}\n\n{inspect.getdoc(function)}\n")
    return "\n".join(sections)


def scaffold_block(kind: str, name: str) -> str:
    """A worked example as the guide shows it: the component module ``plugins new`` writes."""
    return render(f"components/{kind}.py", placeholders(name, kind))


def test_hook_reference_is_generated_from_hookspecs():
    found = _REFERENCE.search(GUIDE.read_text())
    assert found, "docs/plugins.md lost its <!-- hook-reference:start/end --> markers"
    expected = hook_reference()
    assert found.group(1).strip() == expected.strip(), (
        "docs/plugins.md's hook reference differs from autometa/hookspecs.py; replace it with:\n\n" + expected
    )


def test_every_hook_and_kind_is_documented():
    text = GUIDE.read_text()
    for name in hook_specs():
        assert f"`{name}" in text
    shown = {kind for kind, _, _ in _SCAFFOLD.findall(text)}
    assert {"dataset", "inner_optimizer", "regularizer", "pruner"} <= shown
    for kind in plugins.KINDS:
        assert f"| {kind} |" in text, f"the kinds table misses {kind}"


def test_worked_examples_are_what_the_scaffold_generates():
    examples = _SCAFFOLD.findall(GUIDE.read_text())
    assert examples
    for kind, name, code in examples:
        expected = scaffold_block(kind, name)
        assert code == expected, f"the {kind} example differs from the scaffold template; it should read:\n\n{expected}"


@pytest.fixture
def guide_module(tmp_path, monkeypatch):
    """A module to run the guide's blocks in (pydantic resolves annotations through it)."""
    monkeypatch.chdir(tmp_path)
    plugins.reset()
    module = types.ModuleType("plugin_guide_examples")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]
    plugins.reset()


def test_python_examples_run(guide_module):
    blocks = [code for lang, code in _BLOCK.findall(GUIDE.read_text()) if lang == "python"]
    assert len(blocks) >= 8
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"docs/plugins.md python block {number}", "exec"), guide_module.__dict__)
        except Exception as exc:
            raise AssertionError(f"python block {number} of docs/plugins.md failed: {exc!r}\n{code}") from exc
