"""Plugins: the hook contract, the table of component kinds, the observer contract, and the host that loads plugins."""

from autometa.plugins.hookspecs import hookimpl, hookspec
from autometa.plugins.host import (
    BUILTIN_DISTRIBUTION,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginHost,
    default_host,
)
from autometa.plugins.kinds import KINDS, Kind, constructor_context, place
from autometa.plugins.observer import Observer

__all__ = [
    "hookimpl",
    "hookspec",
    "BUILTIN_DISTRIBUTION",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginHost",
    "default_host",
    "KINDS",
    "Kind",
    "constructor_context",
    "place",
    "Observer",
]


#: Functions of the old ``autometa.plugins`` module -> what to call on the default host now.
_DEPRECATED = {
    "get_registry": ("default_host().registry", lambda: default_host().registry),
    "register_plugin": ("default_host().register", lambda *a, **k: default_host().register(*a, **k)),
    "unregister_plugin": ("default_host().unregister", lambda *a, **k: default_host().unregister(*a, **k)),
    "load_plugin_module": ("default_host().load_module", lambda *a, **k: default_host().load_module(*a, **k)),
}


def __getattr__(name: str):
    if name not in _DEPRECATED:
        raise AttributeError(f"module 'autometa.plugins' has no attribute {name!r}")
    import warnings

    replacement, function = _DEPRECATED[name]
    warnings.warn(f"autometa.plugins.{name} is deprecated; use autometa.plugins.{replacement}",
                  DeprecationWarning, stacklevel=2)
    return function
