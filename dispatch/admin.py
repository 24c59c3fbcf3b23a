"""Placeholder: filled in by the admin work (issue 6)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the admin pages."""
