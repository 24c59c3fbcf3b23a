"""The app's photo stores: served display copies, private originals; and intake."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app

from repair.photos.processing import (
    SHA256_HEX,
    LocalPhotoStore,
    ProcessedPhoto,
    process_photo,
    write_atomically,
)

_KEY = "repairdesk.photos"
_ORIGINALS_KEY = "repairdesk.photo-originals"


class OriginalStore:
    """Uploaded originals, as they came (EXIF included), in a folder never served:
    root/ab/<sha256 of the upload>, readable by the app's user only."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, raw: bytes) -> str:
        """Keeps the upload and returns its content hash; saving twice is harmless."""
        sha256 = hashlib.sha256(raw).hexdigest()
        target = self.path(sha256)
        if target.is_file():
            os.utime(target)  # a kept photo used again starts its expiry again
        else:
            write_atomically(target, raw, mode=0o600)
        return sha256

    def path(self, sha256: str, variant: str = "") -> Path:
        """Returns where an original (or its ".preview") lives; ValueError if bad."""
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
        if variant not in ("", ".preview"):
            raise ValueError(f"unknown original variant: {variant!r}")
        return self.root / sha256[:2] / f"{sha256}{variant}"

    def exists(self, sha256: str) -> bool:
        """Returns whether the original is kept."""
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        """Returns the original's bytes; FileNotFoundError if it is gone."""
        return self.path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        """Deletes the original and its preview, if they exist."""
        for variant in ("", ".preview"):
            with contextlib.suppress(FileNotFoundError):
                self.path(sha256, variant).unlink()

    def older_than(self, seconds: float, now: float | None = None) -> Iterator[str]:
        """Yields the hashes of originals last saved more than ``seconds`` ago."""
        cutoff = (now if now is not None else time.time()) - seconds
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/*"):
            if SHA256_HEX.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                yield path.name


def init_app(app: Flask) -> None:
    """Opens the photo stores: PHOTO_DIR, and PHOTO_ORIGINALS_DIR for originals."""
    app.extensions[_KEY] = LocalPhotoStore(app.config["PHOTO_DIR"])
    originals = app.config.get("PHOTO_ORIGINALS_DIR") or (
        str(app.config["PHOTO_DIR"]).rstrip("/\\") + "-originals"
    )
    app.extensions[_ORIGINALS_KEY] = OriginalStore(originals)


def photo_store() -> LocalPhotoStore:
    """Returns the current app's photo store."""
    return current_app.extensions[_KEY]


def original_store() -> OriginalStore:
    """Returns the current app's private store of originals."""
    return current_app.extensions[_ORIGINALS_KEY]


def take_photo(data: bytes | BinaryIO) -> ProcessedPhoto:
    """Processes an upload under the app's limits and stores it; may raise."""
    photo = process_photo(
        data,
        max_bytes=int(current_app.config["PHOTO_MAX_BYTES"]),
        max_pixels=int(current_app.config["PHOTO_MAX_PIXELS"]),
    )
    photo_store().save(photo)
    return photo
