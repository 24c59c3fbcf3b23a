"""The app's photo stores, behind one interface with two implementations: a local
folder (the default) or S3-compatible object storage (repair.photos.s3); served
display copies and thumbnails, and private originals; and intake."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app

from repair.photos.processing import (
    SHA256_HEX,
    LocalPhotoStore,
    ProcessedPhoto,
    StoredFile,
    process_photo,
    write_atomically,
)

_KEY = "repairdesk.photos"
_ORIGINALS_KEY = "repairdesk.photo-originals"


@dataclass(frozen=True, slots=True)
class KeptOriginal:
    """An original kept for a form that may come back (no ticket refers to it yet)."""

    sha256: str
    client: str
    size: int
    saved_at: float


class PhotoStore(Protocol):
    """Display copies and thumbnails named by content hash (served through our
    routes only): LocalPhotoStore or S3PhotoStore."""

    def save(self, photo: ProcessedPhoto) -> None:
        """Stores both variants, thumbnail first; saving twice is harmless."""

    def exists(self, sha256: str, variant: str = "display") -> bool:
        """Returns whether the variant is stored; ValueError for a bad name."""

    def read(self, sha256: str, variant: str = "display") -> bytes:
        """Returns a variant's bytes; FileNotFoundError if it is not stored."""

    def open(self, sha256: str, variant: str = "display") -> StoredFile | None:
        """Returns the variant opened for streaming, or None."""

    def put(self, sha256: str, variant: str, content: bytes) -> None:
        """Writes one variant as it is (a copy from another store)."""

    def names(self) -> Iterator[tuple[str, str]]:
        """Yields (sha256, variant) of everything stored, thumbnails first."""


class OriginalStore(Protocol):
    """Uploads as they came (EXIF included), private, waiting for the photo job:
    LocalOriginalStore or S3OriginalStore."""

    def save(self, raw: bytes, client: str = "") -> str:
        """Keeps the upload and returns its content hash; saving twice is harmless
        (and starts its expiry again). With ``client`` (a key from client_key) the
        original counts as kept for that client until released or deleted."""

    def kept(self) -> list[KeptOriginal]:
        """Returns the kept originals, oldest first."""

    def release(self, sha256: str) -> None:
        """Stops counting an original as kept: a ticket refers to it now."""

    def exists(self, sha256: str) -> bool:
        """Returns whether the original is kept."""

    def read(self, sha256: str) -> bytes:
        """Returns the original's bytes; FileNotFoundError if it is gone."""

    def delete(self, sha256: str) -> None:
        """Deletes the original and its preview, if they exist."""

    def older_than(self, seconds: float, now: float | None = None) -> Iterator[str]:
        """Yields the hashes of originals last saved more than ``seconds`` ago."""

    def read_preview(self, sha256: str) -> bytes | None:
        """Returns the small preview kept beside an original, or None."""

    def save_preview(self, sha256: str, data: bytes) -> None:
        """Keeps a small preview beside an original."""

    def names(self) -> Iterator[str]:
        """Yields the hash of every kept original."""


class LocalOriginalStore:
    """Uploaded originals in a folder never served: root/ab/<sha256 of the upload>,
    readable by the app's user only.

    While no ticket refers to an original it is "kept" and counts against the quotas
    of kept originals: a marker root/.kept/<sha256> names the client that sent it.
    The photo job releases the marker once the original has been processed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, raw: bytes, client: str = "") -> str:
        """Keeps the upload and returns its content hash; saving twice is harmless.

        With ``client`` (a key from client_key) the original is marked as kept for
        that client until it is released or deleted."""
        sha256 = hashlib.sha256(raw).hexdigest()
        target = self.path(sha256)
        if target.is_file():
            os.utime(target)  # a kept photo used again starts its expiry again
        else:
            write_atomically(target, raw, mode=0o600)
        if client:
            self._mark(sha256, client)
        return sha256

    def _mark(self, sha256: str, client: str) -> None:
        # Not synced: a marker lost in a crash leaves its original to the TTL sweep.
        marker = self.root / ".kept" / sha256
        marker.parent.mkdir(parents=True, exist_ok=True)
        # One name per writer: threads of one process mark the same photo at once.
        temporary = marker.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(client, encoding="ascii")
        os.replace(temporary, marker)

    def kept(self) -> list[KeptOriginal]:
        """Returns the kept originals, oldest first; drops markers whose original is
        gone."""
        folder = self.root / ".kept"
        if not folder.is_dir():
            return []
        found = []
        for marker in folder.iterdir():
            if not SHA256_HEX.fullmatch(marker.name):
                continue
            try:
                stat = self.path(marker.name).stat()
                client = marker.read_text(encoding="ascii")
            except FileNotFoundError:
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()
                continue
            found.append(KeptOriginal(marker.name, client, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda item: (item.saved_at, item.sha256))

    def release(self, sha256: str) -> None:
        """Stops counting an original as kept: a ticket refers to it now."""
        with contextlib.suppress(FileNotFoundError):
            (self.root / ".kept" / sha256).unlink()

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
        """Deletes the original, its preview and its marker, if they exist."""
        for variant in ("", ".preview"):
            with contextlib.suppress(FileNotFoundError):
                self.path(sha256, variant).unlink()
        self.release(sha256)

    def older_than(self, seconds: float, now: float | None = None) -> Iterator[str]:
        """Yields the hashes of originals last saved more than ``seconds`` ago."""
        cutoff = (now if now is not None else time.time()) - seconds
        for path in self._files():
            if path.stat().st_mtime < cutoff:
                yield path.name

    def read_preview(self, sha256: str) -> bytes | None:
        """Returns the small preview kept beside an original, or None."""
        try:
            return self.path(sha256, ".preview").read_bytes()
        except FileNotFoundError:
            return None

    def save_preview(self, sha256: str, data: bytes) -> None:
        """Keeps a small preview beside an original."""
        write_atomically(self.path(sha256, ".preview"), data, mode=0o600)

    def names(self) -> Iterator[str]:
        """Yields the hash of every kept original."""
        for path in self._files():
            yield path.name

    def _files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("??/*")):
            if SHA256_HEX.fullmatch(path.name):
                yield path


def client_key(address: str | None) -> str:
    """Returns a client's key for the quotas: a keyed hash of its address (the
    address itself is not written to disk)."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(secret, (address or "-").encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def enforce_kept_quota(
    originals: OriginalStore,
    client: str,
    *,
    per_client: int,
    total: int,
    protected: Iterable[str],
    in_use: Callable[[list[str]], set[str]],
) -> list[str]:
    """Deletes kept originals until the client's kept bytes are at most
    ``per_client`` (its own oldest first) and everyone's at most ``total`` (the
    oldest of the clients that keep the most, each time: an outside tester with a
    handful of addresses filled the pool and so deleted a neighbour's one photo,
    and the neighbour's report was then filed without it); returns their hashes.

    ``protected`` (the post being answered) is never deleted, nor an original that
    ``in_use`` says a ticket refers to (it is released instead): the database is only
    asked when a quota is exceeded."""
    kept = originals.kept()

    def over() -> bool:
        mine = sum(item.size for item in kept if item.client == client)
        return mine > per_client or sum(item.size for item in kept) > total

    if not over():
        return []
    used = in_use([item.sha256 for item in kept])
    for sha256 in used:
        originals.release(sha256)
    keep = set(protected)
    kept = [item for item in kept if item.sha256 not in used]
    dropped: list[str] = []

    def drop(item: KeptOriginal) -> None:
        originals.delete(item.sha256)
        dropped.append(item.sha256)
        kept.remove(item)

    mine = [item for item in kept if item.client == client]
    excess = sum(item.size for item in mine) - per_client
    for item in [item for item in mine if item.sha256 not in keep]:  # oldest first
        if excess <= 0:
            break
        drop(item)
        excess -= item.size
    excess = sum(item.size for item in kept) - total
    while excess > 0:
        usage: dict[str, int] = {}
        for item in kept:
            usage[item.client] = usage.get(item.client, 0) + item.size
        candidates = [item for item in kept if item.sha256 not in keep]
        if not candidates:
            break
        # The oldest of the clients that keep the most (at least half as much as
        # the one that keeps most): clients alike lose their oldest first.
        most = max(usage[item.client] for item in candidates)
        item = next(item for item in candidates if usage[item.client] * 2 >= most)
        drop(item)
        excess -= item.size
    return dropped


def store_errors() -> tuple[type[BaseException], ...]:
    """The errors of a photo store that is away: a full or missing disk, an object
    store that does not answer or refuses. Callers ask the resident to try again
    (keeping what they wrote) or answer 503, never a 500."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # boto3 is only needed for s3:// stores
        pass
    else:
        errors += [BotoCoreError, ClientError]
    return tuple(errors)


def open_stores(config: Mapping) -> tuple[PhotoStore, OriginalStore]:
    """Returns the photo store and the originals' store that the settings name:
    PHOTO_STORE=s3://BUCKET/PREFIX, or else the folders PHOTO_DIR and
    PHOTO_ORIGINALS_DIR."""
    location = str(config.get("PHOTO_STORE") or "").strip()
    if location:
        return open_location(location, config)
    originals = config.get("PHOTO_ORIGINALS_DIR") or (
        str(config["PHOTO_DIR"]).rstrip("/\\") + "-originals"
    )
    return LocalPhotoStore(config["PHOTO_DIR"]), LocalOriginalStore(originals)


def open_location(location: str, config: Mapping) -> tuple[PhotoStore, OriginalStore]:
    """Returns the stores at a location: s3://BUCKET/PREFIX (the S3_* settings
    give the endpoint and credentials) or a local folder (originals beside it in
    <folder>-originals); ValueError for anything else."""
    if location.startswith("s3://"):
        from repair.photos.s3 import open_s3_stores

        return open_s3_stores(location, config)
    if "://" in location:
        raise ValueError(f"not a photo store: {location!r} (use s3://BUCKET/PREFIX)")
    folder = location.rstrip("/\\")
    return LocalPhotoStore(folder), LocalOriginalStore(folder + "-originals")


def init_app(app: Flask) -> None:
    """Opens the photo stores the settings name (the local folders by default)."""
    photos, originals = open_stores(app.config)
    app.extensions[_KEY] = photos
    app.extensions[_ORIGINALS_KEY] = originals
    from repair.photos import cli

    cli.init_app(app)


def photo_store() -> PhotoStore:
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
