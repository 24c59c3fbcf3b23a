"""Placeholder: filled in by the stats work (issue 6)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the stats pages."""
