"""The click group class every ``wmhub`` command group uses: errors as one line, exit status 2."""

from __future__ import annotations

import re

import click

from wmhub.errors import WmhubError
from wmhub.fileio import ENVIRONMENT_ERRNOS, describe_os_error

#: the user information of a URL (``https://user:token@host``): a credential, never printed
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")


def scrub_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it (``https://user:token@host``) replaced by ``***``.

    Args:
        text: a message that may quote a URL (e.g. one built from ``HF_ENDPOINT``).

    Returns:
        The message, safe to print.

    Example:
        >>> scrub_credentials("GET https://me:hf_secret@hub.example/api failed")
        'GET https://***@hub.example/api failed'
    """
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _scrub_exception_chain(exc: BaseException) -> None:
    """Scrub the string arguments of ``exc`` and of the exceptions it chains, so that a traceback
    printed for an unexpected error does not show a credential either."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            current.args = tuple(scrub_credentials(a) if isinstance(a, str) else a for a in current.args)
        except (AttributeError, TypeError):  # an exception type with read-only arguments
            pass
        current = current.__cause__ or current.__context__


class ErrorReportingGroup(click.Group):
    """Turns :class:`WmhubError` and errors of the environment (a full or read-only disk, a path that is
    too long or cannot be created) into one ``error:`` line and exit status 2. No message shows the
    credentials of a URL (e.g. a token in ``HF_ENDPOINT``)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except WmhubError as exc:
            click.echo(f"error: {scrub_credentials(str(exc))}", err=True)
            ctx.exit(2)
        except OSError as exc:
            if exc.errno not in ENVIRONMENT_ERRNOS:
                _scrub_exception_chain(exc)
                raise
            # a path the user gave cannot be created or written: name it instead of a traceback
            click.echo(f"error: {scrub_credentials(describe_os_error(exc))}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            _scrub_exception_chain(exc)
            raise
