"""``python -m autometa``: the ``autometa`` command."""

from autometa.cli import main

main()
