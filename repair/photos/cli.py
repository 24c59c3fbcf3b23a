"""`repairdesk photos migrate --to s3://BUCKET/PREFIX`: copies the app's photo store
(display copies, thumbnails and waiting originals) to another store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from repair.photos.store import (
    OriginalStore,
    PhotoStore,
    open_location,
    original_store,
    photo_store,
)


@dataclass
class MigrationCounts:
    """What a migration did: copied, already there, refused (content ≠ name)."""

    copied: int = 0
    present: int = 0
    damaged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.copied} copied, {self.present} already there, "
            f"{self.damaged} damaged"
        )


def migrate_photos(
    source: PhotoStore, target: PhotoStore, echo=lambda line: None
) -> MigrationCounts:
    """Copies every display copy and thumbnail the target lacks (thumbnail first,
    so a display copy present means the photo is complete there). Idempotent and
    resumable: what the target has is listed once and skipped."""
    counts = MigrationCounts()
    present = set(target.names())
    for sha256, variant in source.names():
        if (sha256, variant) in present:
            counts.present += 1
            continue
        content = source.read(sha256, variant)
        if variant == "display" and hashlib.sha256(content).hexdigest() != sha256:
            echo(f"damaged, not copied: {sha256} ({variant})")
            counts.damaged += 1
            continue
        target.put(sha256, variant, content)
        counts.copied += 1
    return counts


def migrate_originals(source: OriginalStore, target: OriginalStore) -> MigrationCounts:
    """Copies every original waiting for the photo job that the target lacks."""
    counts = MigrationCounts()
    present = set(target.names())
    for sha256 in source.names():
        if sha256 in present:
            counts.present += 1
            continue
        raw = source.read(sha256)
        if hashlib.sha256(raw).hexdigest() != sha256:
            counts.damaged += 1
            continue
        target.save(raw)
        counts.copied += 1
    return counts


@click.group("photos")
def photos_command() -> None:
    """The photo store."""


@photos_command.command("migrate")
@click.option(
    "--to",
    "location",
    required=True,
    metavar="s3://BUCKET/PREFIX",
    help="The store to copy to (the S3_* settings give its endpoint and keys).",
)
@with_appcontext
def migrate_command(location: str) -> None:
    """Copy this app's photo store (by default the local folders) to LOCATION.

    Safe to run again and to interrupt: what is already there is skipped. Run it
    once before switching REPAIRDESK_PHOTO_STORE, then once more after the switch
    for the photos stored meanwhile.
    """
    try:
        photos, originals = open_location(location, current_app.config)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--to") from error
    copied = migrate_photos(photo_store(), photos, echo=click.echo)
    click.echo(f"photos: {copied}")
    kept = migrate_originals(original_store(), originals)
    click.echo(f"originals: {kept}")
    if copied.damaged or kept.damaged:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    """Adds the `photos` commands."""
    app.cli.add_command(photos_command)
