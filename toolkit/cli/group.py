"""The click group class every ``wmhub`` command group uses: errors as one line, exit status 2."""

from __future__ import annotations

import click

from wmhub.errors import WmhubError


class ErrorReportingGroup(click.Group):
    """Turns :class:`WmhubError` (and unusable paths) into one ``error:`` line and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WmhubError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (NotADirectoryError, FileExistsError, PermissionError, IsADirectoryError) as exc:
            # a path the user gave cannot be created or written: name it instead of a traceback
            path = exc.filename or "a path"
            click.echo(f"error: cannot use {path}: {exc.strerror or exc}; choose another path (a file "
                       "may stand where a directory is needed, or permissions are missing)", err=True)
            ctx.exit(2)
