"""Printables: QR codes and sticker sheets for entrances."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Adds the sticker commands to the app."""
