"""The board's navigation: the pages each part of dispatch adds, per app."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_login import current_user

from repair.models import Role

_KEY = "repairdesk.board_links"
_BADGES = "repairdesk.board_badges"
STAFF = (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)


def add_board_link(app: Flask, endpoint: str, title, roles: tuple[Role, ...]) -> None:
    """Adds a page to the board's navigation for users with one of these roles."""
    app.extensions.setdefault(_KEY, {})[endpoint] = (title, roles)


def add_board_badge(app: Flask, endpoint: str, counter: Callable[[], int]) -> None:
    """Shows a count next to a page's link (e.g. what waits there for the user)."""
    app.extensions.setdefault(_BADGES, {})[endpoint] = counter


def board_badge(endpoint: str) -> int:
    """Returns the count shown next to a page's link, 0 for none."""
    counter = current_app.extensions.get(_BADGES, {}).get(endpoint)
    return counter() if counter is not None else 0


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
    app.jinja_env.globals["board_badge"] = board_badge
