"""The ``autometa`` application: its command groups, global options, and how errors end a command.

Every :class:`~autometa.errors.AutometaError`, and every ``OSError`` (a file that
cannot be read or written, a full disk), is printed as one line and exits with
its code (2 for usage errors, 1 for a run that failed); anything unforeseen is
one line with exit code 1 too. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from autometa import __version__
from autometa.errors import AutometaError, file_system_error, first_line

if TYPE_CHECKING:
    from rich.console import Console

    from autometa.plugins.host import PluginHost

app = typer.Typer(
    help="AutoML for meta-learning: search few-shot strategies, compress the winner, ship a predictor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
plugins_app = typer.Typer(help="List and check installed plugins.", no_args_is_help=True)
recipe_app = typer.Typer(help="Validate, show and describe recipes.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")
app.add_typer(recipe_app, name="recipe")

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autometa {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
    plugin: Annotated[
        Optional[list[str]],
        typer.Option("--plugin", "-p", help="Load a plugin module by dotted path (repeatable)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    for module in plugin or []:
        plugin_host().load_module(module)


def plugin_host() -> PluginHost:
    """The plugin host every command uses (``--plugin`` modules are loaded into it)."""
    from autometa.plugins.host import default_host

    return default_host()


def console() -> Console:
    from rich.console import Console

    return Console()


def main() -> None:
    """Console entry point: runs the app, turning user errors into one line and exit code."""
    try:
        app(standalone_mode=False)
    except (AutometaError, OSError) as exc:
        if _state["debug"]:
            raise
        error = exc if isinstance(exc, AutometaError) else file_system_error(exc)
        _error_line(str(error))
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        _error_line("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error_line("aborted")
        sys.exit(1)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument, unknown command); typer
        # may vendor click, so they are recognised by shape rather than by class.
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            message = exc.format_message()
            if message:  # empty when a group without a command just printed its help
                _error_line(f"{message.rstrip('.')}; see 'autometa --help'")
            sys.exit(exc.exit_code)
        if _state["debug"]:
            raise
        # not foreseen: still one line (a search also logs the traceback in its run's search.log)
        _error_line(f"unexpected {type(exc).__name__}: {first_line(exc)}; rerun with --debug for the traceback")
        sys.exit(1)


def _error_line(message: str) -> None:
    typer.echo(f"error: {message}", err=True)

