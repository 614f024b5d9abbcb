"""docs/plugins.md stays true: its hook reference is hookspecs.py's, its worked
examples are the scaffold's templates, and every Python block in it runs."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from autometa.authoring.check import hook_specs
from autometa.authoring.scaffold import placeholders, render
from autometa.plugins import KINDS, default_host, hookspecs

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
    for kind in KINDS:
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
    default_host().reset()
    module = types.ModuleType("plugin_guide_examples")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]
    default_host().reset()


def test_python_examples_run(guide_module):
    blocks = [code for lang, code in _BLOCK.findall(GUIDE.read_text()) if lang == "python"]
    assert len(blocks) >= 8
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"docs/plugins.md python block {number}", "exec"), guide_module.__dict__)
        except Exception as exc:
            raise AssertionError(f"python block {number} of docs/plugins.md failed: {exc!r}\n{code}") from exc


def test_the_public_api_table_lists_exactly_autometa_all():
    import autometa

    table = re.search(r"<!-- public-api:start -->\n(.*?)<!-- public-api:end -->", GUIDE.read_text(), re.S).group(1)
    listed = re.findall(r"`(\w+)`", "\n".join(line.split("|")[2] for line in table.splitlines()[2:]))
    assert sorted(listed) == sorted(name for name in autometa.__all__ if name != "__version__")
