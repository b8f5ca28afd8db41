"""``python -m wmhub.cli``: the ``wmhub`` command."""

from wmhub.cli import main

main()
