"""The board's navigation: the pages each part of dispatch adds, per app."""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import current_user

from repair.models import Role

_KEY = "repairdesk.board_links"
STAFF = (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)


def add_board_link(app: Flask, endpoint: str, title, roles: tuple[Role, ...]) -> None:
    """Adds a page to the board's navigation for users with one of these roles."""
    app.extensions.setdefault(_KEY, {})[endpoint] = (title, roles)


def board_links() -> list[tuple[str, object]]:
    """Returns the extra navigation links the current user may follow."""
    if not current_user.is_authenticated:
        return []
    links = current_app.extensions.get(_KEY, {})
    return [
        (endpoint, title)
        for endpoint, (title, roles) in links.items()
        if current_user.role in roles
    ]


def init_app(app: Flask) -> None:
    """Makes the navigation available to the board's templates."""
    app.jinja_env.globals["board_links"] = board_links
