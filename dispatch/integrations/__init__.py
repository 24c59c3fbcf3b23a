"""Integrations with the systems around RepairDesk: an Open311 GeoReport v2 server
and a 12345 hotline work-order bridge."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wires the Open311 server, the hotline bridge, their admin pages and commands."""
    # Imported here, not at the top: dispatch.models imports this package's models.
    from dispatch.integrations import (
        admin,
        cli,
        hotline,
        open311,
        privacy,
        settings,
    )

    for part in (settings, open311, hotline, admin, cli, privacy):
        part.init_app(app)
