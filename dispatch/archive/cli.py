"""`repairdesk archive`: a community's year of ended tickets as one zip file."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from dispatch.archive.bundle import ended_in_year, tickets_in_batches, write_archive
from repair.db import db
from repair.models import Community

#: The exit code when the year has no ended ticket (no file is written).
NOTHING_TO_ARCHIVE = 3
PROGRESS_FROM = 50


class NothingToArchive(click.ClickException):
    exit_code = NOTHING_TO_ARCHIVE


@click.command("archive")
@click.option("--community", "slug", required=True, metavar="SLUG")
@click.option("--year", required=True, type=click.IntRange(2000, 2999))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The zip file to write.",
)
@with_appcontext
def archive_command(slug: str, year: int, output: Path) -> None:
    """Write a community's tickets that ended in YEAR (local time) to a zip: each
    one's record as PDF and JSON, its photos, an index and SHA256SUMS.

    Exit codes: 0 written, 1 the file cannot be written, 2 a bad option (an
    unknown community), 3 no ticket ended in that year (nothing written)."""
    community = db.session.scalar(sa.select(Community).where(Community.slug == slug))
    if community is None:
        known = ", ".join(db.session.scalars(sa.select(Community.slug))) or "none"
        raise click.BadParameter(
            f"no community {slug!r} (communities: {known})", param_hint="--community"
        )
    if output.suffix.lower() != ".zip":
        raise click.BadParameter("use a .zip file name", param_hint="-o")
    ids = list(db.session.scalars(ended_in_year(community, year)))
    if not ids:
        raise NothingToArchive(
            f"no ticket of {community.slug} was closed, rejected or merged in {year}; "
            "nothing written"
        )
    name, tz = community.name, community.timezone
    temporary = _open_beside(output)
    try:
        with temporary:
            tickets = tickets_in_batches(ids, release=True)
            if len(ids) >= PROGRESS_FROM:
                with click.progressbar(
                    length=len(ids), label="Archiving", file=sys.stderr
                ) as bar:
                    count = write_archive(
                        tickets, temporary, community, year, progress=bar.update
                    )
            else:
                count = write_archive(tickets, temporary, community, year)
        os.replace(temporary.name, output)
    except OSError as error:
        Path(temporary.name).unlink(missing_ok=True)
        raise click.ClickException(
            f"cannot write {output}: {error.strerror or error}"
        ) from None
    except BaseException:
        Path(temporary.name).unlink(missing_ok=True)
        raise
    click.echo(f"{output}: {count} ticket(s) of {name} ({year}, {tz})")


def _open_beside(output: Path):
    # The zip is written beside its final name and renamed when complete: a
    # failed run never leaves half an archive under the name asked for.
    if output.is_dir():
        raise click.ClickException(f"cannot write {output}: it is a directory")
    try:
        return tempfile.NamedTemporaryFile(
            dir=output.parent, prefix=f".{output.name}.", delete=False
        )
    except OSError as error:
        raise click.ClickException(
            f"cannot write {output}: {error.strerror or error}"
        ) from None


def init_app(app: Flask) -> None:
    """Adds `repairdesk archive`."""
    app.cli.add_command(archive_command)
