"""Printables: QR stickers for entrances, as a library and the `stickers` command."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Adds the `stickers` command to the app's CLI group."""
    from printables.commands import stickers_command

    app.cli.add_command(stickers_command)
