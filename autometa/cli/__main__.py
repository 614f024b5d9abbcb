"""``python -m autometa.cli``: the ``autometa`` command."""

from autometa.cli import main

main()
