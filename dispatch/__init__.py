"""Dispatch: classification, routing, SLA clock, jobs, notifications, board."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Wires dispatch into the app (subscribes to repair's signals)."""
