"""Archives (档案): every ended ticket's full record as PDF and JSON, in a zip
with an index and checksums (`repairdesk archive`, the board's download)."""

from __future__ import annotations

from flask import Flask

from dispatch.archive import cli, views


def init_app(app: Flask) -> None:
    """Adds the command and the board's download."""
    cli.init_app(app)
    views.init_app(app)
