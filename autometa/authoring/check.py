"""``autometa plugins check``: find what is wrong with installed plugins, one line each.

Loading plugins (:mod:`autometa.plugins`) already survives import errors and
clashing names; this module looks deeper, at what a plugin author gets wrong
before anything crashes:

* hook functions: a misspelt hook name (``register_learner``) with a
  did-you-mean, a hook function without ``@hookimpl`` (never called), arguments
  the hook does not provide (pluggy refuses such a plugin);
* components: a class that does not subclass its kind's base class, an
  ``Options`` model that is not a :class:`~autometa.PluginOptions`,
  an invalid default, an option without a description, a missing docstring.

Every problem is a :class:`~autometa.components.PluginProblem`, printed as
``plugin 'NAME' (DISTRIBUTION VERSION): reason``.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from autometa.components.component import PluginOptions
from autometa.components.registry import PluginProblem, PluginSource, Registry
from autometa.errors import PluginError
from autometa.plugins import hookspecs
from autometa.plugins.host import PluginHost
from autometa.plugins.kinds import KINDS

_IMPL_MARKER = f"{hookspecs.hookimpl.project_name}_impl"
_SPEC_MARKER = f"{hookspecs.hookspec.project_name}_spec"


def hook_specs() -> dict[str, inspect.Signature]:
    """Every hook of :mod:`autometa.hookspecs` by name, with its signature."""
    return {
        name: inspect.signature(function)
        for name, function in vars(hookspecs).items()
        if inspect.isfunction(function) and hasattr(function, _SPEC_MARKER)
    }


def check_plugins(host: PluginHost, name: str | None = None) -> list[PluginProblem]:
    """Every problem of every plugin ``host`` loaded, or only of plugin/distribution ``name``.

    Raises :class:`~autometa.errors.PluginError` when ``name`` matches nothing.
    """
    registry = host.registry
    plugins = host.plugins()
    if name is not None:
        known = {s.plugin for s, _ in plugins} | {s.distribution for s, _ in plugins}
        known |= {p.source.plugin for p in registry.problems} | {p.source.distribution for p in registry.problems}
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise PluginError(f"no plugin or distribution named '{name}'; {hint}see 'autometa plugins list'")

    problems: list[PluginProblem] = []
    diagnosed: set[PluginSource] = set()
    for source, plugin in plugins:
        found = [PluginProblem(source, message) for message in inspect_hooks(plugin)]
        if found:
            diagnosed.add(source)
        problems += found
    for problem in registry.problems:
        # pluggy's own refusal is several lines; our diagnosis above says it in one.
        if problem.source in diagnosed and problem.message.startswith("cannot be registered"):
            continue
        problems.append(PluginProblem(problem.source, " ".join(problem.message.split())))
    problems += _component_problems(registry)
    if name is not None:
        problems = [p for p in problems if name in (p.source.plugin, p.source.distribution)]
    return problems


def inspect_hooks(plugin: object) -> list[str]:
    """Problems with the hook functions of one plugin object (module, class or instance)."""
    specs = hook_specs()
    messages = []
    for attr in sorted(dir(plugin)):
        function = getattr(plugin, attr, None)
        if not (inspect.isfunction(function) or inspect.ismethod(function)):
            continue
        marker = getattr(function, _IMPL_MARKER, None)
        hook = (marker or {}).get("specname") or attr
        if hook in specs:
            if marker is None:
                messages.append(
                    f"function '{attr}' is not decorated with @hookimpl, so autometa never calls it; "
                    "add 'from autometa import hookimpl' and '@hookimpl'"
                )
            extra = _extra_arguments(function, specs[hook])
            if extra:
                messages.append(
                    f"hook '{attr}' takes {', '.join(repr(a) for a in extra)} which the hook does not "
                    f"provide; the hook's signature is {hook}{_plain(specs[hook])}"
                )
            continue
        if marker is None and getattr(function, "__module__", None) != _home_module(plugin):
            continue  # imported helpers (e.g. register_plugin) are not the author's hooks
        close = difflib.get_close_matches(hook, list(specs), n=1, cutoff=0.8)
        if close:
            messages.append(f"'{attr}' is not an autometa hook; did you mean '{close[0]}'?")
        elif marker is not None:
            messages.append(
                f"'{attr}' is marked @hookimpl but is not an autometa hook (hooks: {', '.join(specs)})"
            )
    return messages


def check_component(kind: str, cls: type) -> list[str]:
    """Problems with one component class registered as ``kind``."""
    base = KINDS[kind].base
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return [f"{kind} class {getattr(cls, '__name__', cls)!r} must subclass autometa.{base.__name__}"]
    label = f"{kind} '{cls.name}'"
    messages = []
    if not cls.summary():
        messages.append(f"{label} has no docstring; its first line is the description users see")
    options = cls.Options
    if not (isinstance(options, type) and issubclass(options, PluginOptions)):
        messages.append(
            f"{label}: Options must subclass autometa.PluginOptions (so unknown keys are errors)"
        )
        return messages
    for field_name, field in options.model_fields.items():
        if not field.description:
            messages.append(
                f"{label}: option '{field_name}' has no description; "
                "declare it with Field(default, description=...)"
            )
    messages += [f"{label}: {message}" for message in _invalid_defaults(options)]
    return messages


def _invalid_defaults(options: type[PluginOptions]) -> list[str]:
    from pydantic import ValidationError

    try:
        options.model_validate({})
    except ValidationError as exc:
        return [
            f"default of option '{'.'.join(map(str, err['loc']))}' is invalid: {err['msg']}"
            for err in exc.errors()
            if err["type"] != "missing"  # a required option has no default to check
        ]
    return []


def _component_problems(registry: Registry) -> list[PluginProblem]:
    return [
        PluginProblem(entry.source, message)
        for kind, by_name in registry.components.items()
        for entry in by_name.values()
        for message in check_component(kind, entry.cls)
    ]


def _home_module(plugin: object) -> str | None:
    """The module a plugin's own functions are defined in."""
    if inspect.ismodule(plugin):
        return plugin.__name__
    return getattr(plugin if inspect.isclass(plugin) else type(plugin), "__module__", None)


def _extra_arguments(function: Any, spec: inspect.Signature) -> list[str]:
    params = list(inspect.signature(function).parameters)
    if inspect.isfunction(function) and params and params[0] == "self":
        params = params[1:]  # a hook written as a method of a plugin class
    return [p for p in params if p not in spec.parameters]


def _plain(signature: inspect.Signature) -> str:
    return "(" + ", ".join(signature.parameters) + ")"
