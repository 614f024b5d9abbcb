"""``autometa plugins new``: a pip-installable plugin package that passes its own tests.

The package is rendered from the templates in ``autometa/templates/plugin/``
(``*.tmpl`` files with ``string.Template`` placeholders such as ``$component``)::

    autometa-cutmix/
      pyproject.toml                 entry point in the ``autometa`` group
      README.md
      autometa_cutmix/__init__.py    the @hookimpl registering the component
      autometa_cutmix/<kind>.py      a small, working component of that kind
      tests/test_autometa_cutmix.py  autometa's checks + a tiny search using it

Each kind's component is a complete example (the plugin author's guide shows
them), meant to be edited into the author's own idea.
"""

from __future__ import annotations

import difflib
import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

from autometa import __version__
from autometa.errors import PluginError
from autometa.plugins.kinds import KINDS, Kind

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$")


def _template(relative: str):
    return resources.files("autometa.authoring").joinpath("templates", "plugin", f"{relative}.tmpl")


def template_text(relative: str) -> str:
    """The text of one template file, e.g. ``"components/pruner.py"``."""
    return _template(relative).read_text(encoding="utf-8")


def scaffold_kinds() -> list[str]:
    """The kinds ``plugins new`` can scaffold (those with a component template)."""
    return [kind for kind in KINDS if _template(f"components/{kind}.py").is_file()]


def placeholders(name: str, kind: str) -> dict[str, str]:
    """Template values for distribution ``name`` and ``kind``; a PluginError names a bad input."""
    if not _NAME.match(name):
        raise PluginError(
            f"'{name}' is not a valid plugin name; use letters, digits, '-' or '_', starting with a letter "
            "(e.g. autometa-cutmix)"
        )
    kinds = scaffold_kinds()
    if kind not in kinds:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise PluginError(f"cannot scaffold kind '{kind}'; {hint}choose one of: {', '.join(kinds)}")
    package = name.replace("-", "_").lower()
    component = package.removeprefix("autometa_")
    if package in ("autometa", "autometa_plugins") or not component[0].isalpha() or keyword.iskeyword(package):
        raise PluginError(
            f"'{name}' cannot name a plugin package (it would clash with autometa or Python); "
            "choose a name like autometa-cutmix"
        )
    major_minor = ".".join(__version__.split(".")[:2])
    return {
        "project": name,
        "package": package,
        "component": component,
        "class_name": "".join(part.capitalize() for part in component.split("_")),
        "kind": kind,
        "kind_words": KINDS[kind].words,
        "hook": KINDS[kind].hook,
        "module": kind,
        "autometa_version": major_minor,
        "usage": recipe_usage(KINDS[kind], component),
    }


def render(relative: str, values: dict[str, str]) -> str:
    """One template rendered with ``values`` (missing placeholders are an error)."""
    return Template(template_text(relative)).substitute(values)


def scaffold_plugin(name: str, kind: str, directory: Path = Path(".")) -> Path:
    """Write the plugin package ``directory/name`` and return its folder.

    Raises :class:`~autometa.errors.PluginError` if the name or kind is invalid
    or the folder already exists and is not empty.
    """
    values = placeholders(name, kind)
    project = Path(directory) / name
    if project.exists() and any(project.iterdir()):
        raise PluginError(f"{project} already exists and is not empty; choose another name or --dir")
    test = f"tests/{KINDS[kind].scaffold_test}.py"
    files = {
        "pyproject.toml": "pyproject.toml",
        "README.md": "README.md",
        f"{values['package']}/__init__.py": "package_init.py",
        f"{values['package']}/{values['module']}.py": f"components/{kind}.py",
        f"tests/test_{values['package']}.py": test,
    }
    for target, source in files.items():
        path = project / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(source, values), encoding="utf-8")
    return project


def recipe_usage(kind: Kind, component: str) -> str:
    """The part of a tiny recipe (:func:`~autometa.authoring.testing.tiny_recipe`) that names
    ``component`` where ``kind`` goes, as YAML in a Markdown block."""
    from autometa.authoring.testing import tiny_recipe

    fragment = _along(tiny_recipe({kind.name: component}), kind.slot.split("."))
    options = f"{{{component}: {{option: value}}}}"
    return f"```yaml\n{yaml.safe_dump(fragment, sort_keys=False)}```\n(with options: `{options}`)"


def _along(node: Any, steps: list[str]) -> Any:
    """Only the keys of ``node`` on the path ``steps`` (a ``*`` step keeps the whole component named there)."""
    if not steps or steps[0] == "*":
        return node
    key = steps[0].removesuffix("[]")
    return {key: _along(node[key], steps[1:])}
