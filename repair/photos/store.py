"""The app's photo store and the intake of uploaded photos."""

from __future__ import annotations

from typing import BinaryIO

from flask import Flask, current_app

from repair.photos.processing import LocalPhotoStore, ProcessedPhoto, process_photo

_KEY = "repairdesk.photos"


def init_app(app: Flask) -> None:
    """Opens the photo store configured by REPAIRDESK_PHOTO_DIR."""
    app.extensions[_KEY] = LocalPhotoStore(app.config["PHOTO_DIR"])


def photo_store() -> LocalPhotoStore:
    """Returns the current app's photo store."""
    return current_app.extensions[_KEY]


def take_photo(data: bytes | BinaryIO) -> ProcessedPhoto:
    """Processes an upload under the app's limits and stores it; may raise."""
    photo = process_photo(
        data,
        max_bytes=int(current_app.config["PHOTO_MAX_BYTES"]),
        max_pixels=int(current_app.config["PHOTO_MAX_PIXELS"]),
    )
    photo_store().save(photo)
    return photo
