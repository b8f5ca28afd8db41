"""The ``wmhub`` command line (click).

Every subcommand's ``--help`` ends with an example. User errors
(:class:`wmhub.errors.WmhubError`) print one ``error:`` line and exit 2.
"""

from __future__ import annotations

import click

from wmhub.cli.group import ErrorReportingGroup
from wmhub.version import __version__


@click.group(cls=ErrorReportingGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wmhub")
def main() -> None:
    """wmhub: datasets and checkpoints for world-model research in robot learning.

    \b
    Example:
      wmhub quickstart                 # generate, verify and summarise a small dataset
      wmhub generate reacher data/reacher-100k --episodes 500 --workers 2
      wmhub verify data/reacher-100k
    """


# each command family lives in its own module (one job per file); registered here in --help order
from wmhub.cli import datasets, export, generate, policy, runs  # noqa: E402

for _command in (generate.generate, generate.encode, datasets.verify, datasets.info, datasets.publish,
                 datasets.download, export.export, runs.train, runs.eval_command, runs.push, runs.reproduce,
                 runs.quickstart, policy.policy):
    main.add_command(_command)

from wmhub.cli import view  # noqa: E402

main.add_command(view.view)

from wmhub.cli import report  # noqa: E402

main.add_command(report.report)
