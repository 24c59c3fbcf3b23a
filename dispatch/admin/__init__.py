"""Administration: communities, places, stickers, routing, contractors, users, SLA."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from dispatch.admin import (  # noqa: F401  (each registers its pages on bp)
    contractors,
    places,
    routing,
    sla,
    stickers,
    users,
)
from dispatch.admin.blueprint import bp
from dispatch.admin.forms import time_zones
from dispatch.board.nav import STAFF, add_board_link
from repair.models import Role


def init_app(app: Flask) -> None:
    """Registers the admin pages and their links in the board's navigation."""
    app.register_blueprint(bp)
    app.jinja_env.globals["time_zones"] = time_zones
    add_board_link(app, "admin.index", _l("Administration"), (Role.ADMIN,))
    add_board_link(app, "admin.stickers", _l("Stickers"), STAFF)
