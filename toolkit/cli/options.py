"""Options that several ``wmhub`` commands share, declared once."""

from __future__ import annotations

import click


def store_in_meta(ctx: click.Context, param: click.Parameter, value):
    ctx.meta[f"wmhub.{param.name}"] = value
    return value


def upload_options(func):
    """--tag / --private / --message, shared by `publish` (datasets) and `push` (checkpoints)."""
    func = click.option("--message", default=None, help="Commit message.")(func)
    func = click.option("--private", is_flag=True, help="Create the Hub repo as private.")(func)
    return click.option("--tag", default=None,
                        help="Mark this version (e.g. v1.0); existing tags never move.")(func)
