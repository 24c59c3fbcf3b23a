"""Photos posted with a form: taken through the pipeline, kept across a rejected post.

A form that comes back with an error must not ask again for the photos it already
accepted: they are stored at once and carried in a signed hidden field.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from flask import current_app, jsonify, redirect, request
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import FileStorage

from repair.db import db
from repair.models import Photo, Ticket
from repair.photos.processing import ACCEPTED_MIME_TYPES, PhotoRejected
from repair.photos.store import photo_store, take_photo

PHOTO_ERRORS = {
    "empty": _l("The file “%(name)s” is empty. Please take the photo again."),
    "not_an_image": _l("“%(name)s” is not a photo we can read. Please choose a photo."),
    "unsupported_format": _l(
        "“%(name)s” is not a supported format. Use JPEG, PNG, WebP or HEIC."
    ),
    "too_large": _l("“%(name)s” is too large (at most %(mb)s MB)."),
    "too_many_pixels": _l(
        "“%(name)s” has too many pixels. Please use a smaller photo."
    ),
}
ACCEPT_ATTRIBUTE = ",".join(ACCEPTED_MIME_TYPES)


class PhotoUploads:
    """The photos of one form post: those kept from an earlier post, plus new ones."""

    def __init__(self, kept_token: str | None, limit: int):
        self.limit = limit
        self.kept: list[dict] = _load(kept_token)
        self.errors: list[str] = []

    def take(self, files: Iterable[FileStorage]) -> None:
        """Processes and stores each uploaded file; a rejected one adds a message."""
        max_mb = f"{int(current_app.config['PHOTO_MAX_BYTES']) / 1048576:.3g}"
        for upload in files:
            if not upload or (not upload.filename and not upload.content_length):
                continue
            name = upload.filename or "photo"
            try:
                photo = take_photo(upload.stream)
            except PhotoRejected as rejected:
                message = PHOTO_ERRORS.get(
                    rejected.reason, PHOTO_ERRORS["not_an_image"]
                )
                self.errors.append(message % {"name": name, "mb": max_mb})
                continue
            if all(item["sha256"] != photo.sha256 for item in self.kept):
                self.kept.append(
                    {"sha256": photo.sha256, "w": photo.width, "h": photo.height}
                )
        if len(self.kept) > self.limit:
            self.kept = self.kept[: self.limit]
            self.errors.append(
                _l("At most %(n)s photos; we kept the first %(n)s.", n=self.limit)
            )

    def require_one(self, message) -> None:
        """Adds ``message`` when nothing was kept and nothing else went wrong."""
        if not self.kept and not self.errors:
            self.errors.append(message)

    def token(self) -> str:
        """Returns the signed hidden-field value that carries the kept photos."""
        return _serializer().dumps(self.kept) if self.kept else ""

    def previews(self) -> list[dict]:
        """Returns the kept photos with inline thumbnails for the re-shown form."""
        return [
            dict(item, src=_thumbnail_data_uri(item["sha256"])) for item in self.kept
        ]

    def attach(self, ticket: Ticket, purpose: str) -> list[Photo]:
        """Adds the kept photos to the ticket (in the caller's transaction)."""
        photos = [
            Photo(
                ticket=ticket,
                purpose=purpose,
                sha256=item["sha256"],
                width=item["w"],
                height=item["h"],
            )
            for item in self.kept
        ]
        db.session.add_all(photos)
        return photos


def finish_upload(target: str):
    """Sends the browser on after a successful upload form: JSON for the upload
    script (it navigates itself), a 303 redirect for a plain form post."""
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify(redirect=target)
    return redirect(target, code=303)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kept-photos")


def _load(token: str | None) -> list[dict]:
    if not token:
        return []
    try:
        kept = _serializer().loads(token)
    except BadSignature:
        return []
    store = photo_store()
    return [item for item in kept if store.exists(item["sha256"])]


def _thumbnail_data_uri(sha256: str) -> str:
    data = photo_store().path(sha256, "thumbnail").read_bytes()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()
