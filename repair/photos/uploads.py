"""Photos posted with a form: taken through the pipeline, kept across a rejected post.

A form that comes back with an error must not ask again for the photos it already
accepted: they are stored at once and carried in a signed hidden field.

With ``deferred=True`` (the resident's report) the request decodes nothing: each
upload's size and header are checked, the original is kept privately, and the
photo job makes the display copy after the commit (repair.photos.jobs).
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterable

import sqlalchemy as sa
from flask import current_app, jsonify, redirect, request
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import FileStorage

from repair.db import after_commit, db
from repair.models import Photo, Ticket
from repair.photos.jobs import process_after_commit
from repair.photos.processing import (
    ACCEPTED_MIME_TYPES,
    PhotoRejected,
    check_header,
    downscale,
    encode_jpeg,
    open_image,
    orientation_transpose,
    read_limited,
)
from repair.photos.store import (
    client_key,
    enforce_kept_quota,
    original_store,
    photo_store,
    store_errors,
    take_photo,
)

log = logging.getLogger(__name__)

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
    "store_away": _l(
        "“%(name)s” could not be saved just now. Please add it again in a minute; "
        "what you wrote is kept."
    ),
}
PHOTO_LOST = _l(
    "A photo you chose earlier could no longer be kept. Please add it again; "
    "everything else is kept."
)
ACCEPT_ATTRIBUTE = ",".join(ACCEPTED_MIME_TYPES)
# A kept photo without a preview: a grey tile with a camera outline.
_KEPT_TILE = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
        b'<rect width="24" height="24" fill="#e5e7eb"/><g fill="none" '
        b'stroke="#6b7280" stroke-width="1.5"><path d="M4 9h3l2-3h6l2 3h3v10H4z"/>'
        b'<circle cx="12" cy="13" r="3.5"/></g></svg>'
    ).decode()
)


class PhotoUploads:
    """The photos of one form post: those kept from an earlier post, plus new ones."""

    def __init__(
        self,
        kept_token: str | None,
        limit: int,
        deferred: bool = False,
        already: int = 0,
    ):
        self.limit = limit
        #: photos the ticket already has: the limit is the room left beside them
        self.already = already
        self.deferred = deferred
        self.kept, lost = _load(kept_token)
        self.errors: list[str] = []
        if lost:
            # Kept too long (or pushed out of a full store): the resident is told
            # and chooses it again; a report filed without it says nothing (an
            # outside tester's ticket came without its photo, and without a word).
            self.errors.append(PHOTO_LOST)

    def take(self, files: Iterable[FileStorage]) -> None:
        """Takes each uploaded file up to the limit; a rejected one adds a message.

        Files past the limit are never read; with ``deferred`` nothing is decoded.
        The same photo chosen twice is kept once and leaves room for another.
        """
        max_bytes = int(current_app.config["PHOTO_MAX_BYTES"])
        max_mb = f"{max_bytes / 1048576:.3g}"
        uploads = [upload for upload in files if is_attached(upload)]
        taken = 0
        while uploads and len(self.kept) < self.limit:
            upload = uploads.pop(0)
            taken += 1
            name = upload.filename or "photo"
            try:
                item = self._take_one(upload, max_bytes)
            except PhotoRejected as rejected:
                message = PHOTO_ERRORS.get(
                    rejected.reason, PHOTO_ERRORS["not_an_image"]
                )
                self.errors.append(message % {"name": name, "mb": max_mb})
                continue
            if item not in self.kept:
                self.kept.append(item)
        if uploads and self.already:  # more than the report has room for
            self.errors.append(
                _l(
                    "This report already has %(have)s photos and room for %(n)s"
                    " more; we kept the first %(n)s.",
                    have=self.already,
                    n=self.limit,
                )
            )
        elif uploads:  # more than there was room for
            self.errors.append(
                _l("At most %(n)s photos; we kept the first %(n)s.", n=self.limit)
            )
        if self.deferred and taken:
            self._enforce_quota()

    def _enforce_quota(self) -> None:
        """Keeps the originals of posts that may come back within their quotas (per
        client and in all): the oldest others go first, never this post's."""
        config = current_app.config
        try:
            enforce_kept_quota(
                original_store(),
                client_key(request.remote_addr),
                per_client=int(config["PHOTO_KEPT_BYTES_PER_CLIENT"]),
                total=int(config["PHOTO_KEPT_BYTES"]),
                protected=[
                    item["original"] for item in self.kept if "original" in item
                ],
                in_use=_originals_in_use,
            )
        except store_errors() as away:  # the sweep still expires them
            log.warning("photo store away, kept-originals quota not applied: %s", away)

    def _take_one(self, upload: FileStorage, max_bytes: int) -> dict:
        if upload.content_length and upload.content_length > max_bytes:
            raise PhotoRejected("too_large", "declared size")
        if not self.deferred:
            photo = take_photo(upload.stream)
            return {"sha256": photo.sha256, "w": photo.width, "h": photo.height}
        raw = read_limited(upload.stream, max_bytes)
        header = check_header(
            raw,
            max_bytes=max_bytes,
            max_pixels=int(current_app.config["PHOTO_MAX_PIXELS"]),
        )
        try:
            original = original_store().save(raw, client_key(request.remote_addr))
        except store_errors() as away:
            log.warning("photo store away, upload not kept: %s", away)
            raise PhotoRejected("store_away", str(away)) from away
        return {
            "original": original,
            "w": header.width,
            "h": header.height,
            "f": header.format,
        }

    def require_one(self, message) -> None:
        """Adds ``message`` when nothing was kept and nothing else went wrong."""
        if not self.kept and not self.errors:
            self.errors.append(message)

    def token(self) -> str:
        """Returns the signed hidden-field value that carries the kept photos."""
        return _serializer().dumps(self.kept) if self.kept else ""

    def previews(self) -> list[dict]:
        """Returns the kept photos with inline thumbnails for the re-shown form."""
        return [dict(item, src=_preview_data_uri(item)) for item in self.kept]

    def attach(self, ticket: Ticket, purpose: str) -> list[Photo]:
        """Adds the kept photos to the ticket (in the caller's transaction); pending
        ones are processed by the photo job once it commits."""
        photos = [
            Photo(
                ticket=ticket,
                purpose=purpose,
                sha256=item.get("sha256") or item["original"],
                width=item["w"],
                height=item["h"],
                state="pending" if "original" in item else "ready",
                original=item.get("original"),
            )
            for item in self.kept
        ]
        db.session.add_all(photos)
        process_after_commit(photos)  # inserted by the commit's flush, not one of ours
        originals = [item["original"] for item in self.kept if "original" in item]
        if originals:
            # A ticket refers to them once this commits: they stop counting as kept,
            # so the next post's quota check reads only the originals of forms
            # shown again, not every photo still waiting for its job.
            after_commit(lambda: _release(originals), key=("kept", *originals))
        return photos


def _release(originals: list[str]) -> None:
    """Stops counting these originals against the kept quotas (after the commit
    that gave them a ticket; the photo job releases them too)."""
    try:
        store = original_store()
        for sha256 in originals:
            store.release(sha256)
    except store_errors() as away:  # the job or the sweep releases them later
        log.warning("photo store away, kept markers left to the job: %s", away)


def finish_upload(target: str):
    """Sends the browser on after a successful upload form: JSON for the upload
    script (it navigates itself), a 303 redirect for a plain form post."""
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify(redirect=target)
    return redirect(target, code=303)


def _originals_in_use(originals: list[str]) -> set[str]:
    """Returns which of these originals a photo row refers to (a read: the caller's
    transaction is one that takes no write lock); all of them if the database is
    away, so that nothing is dropped then (the sweep expires them later)."""
    if not originals:
        return set()
    try:
        return set(
            db.session.scalars(
                sa.select(Photo.original).where(Photo.original.in_(originals))
            )
        )
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            db.session.rollback()
        return set(originals)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kept-photos")


def is_attached(upload: FileStorage | None) -> bool:
    """Returns whether a file field carries a file (browsers send empty ones)."""
    return bool(upload) and bool(upload.filename or upload.content_length)


def _load(token: str | None) -> tuple[list[dict], int]:
    """Returns the photos a signed token carries that are still kept, and how many
    it carries that are not."""
    if not token:
        return [], 0
    try:
        kept = _serializer().loads(token)
    except BadSignature:
        return [], 0
    store, originals = photo_store(), original_store()
    found = [
        item
        for item in kept
        if (
            originals.exists(item["original"])
            if "original" in item
            else store.exists(item["sha256"])
        )
    ]
    return found, len(kept) - len(found)


def _preview_data_uri(item: dict) -> str:
    if "sha256" in item:
        data = photo_store().read(item["sha256"], "thumbnail")
    elif item.get("f") in ("JPEG", "MPO"):
        data = _original_preview(item["original"])
    else:
        return _KEPT_TILE
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def _original_preview(original: str) -> bytes:
    """Returns a small preview of a kept JPEG original for the form shown again,
    decoded at an eighth of its size, made once and kept beside the original (other
    formats get a tile: a full decode is the photo job's work, not a form's)."""
    originals = original_store()
    kept = originals.read_preview(original)
    if kept is not None:
        return kept
    image = open_image(
        originals.read(original), int(current_app.config["PHOTO_MAX_PIXELS"])
    )
    image.draft("RGB", (176, 176))
    upright = orientation_transpose(image)
    preview = downscale(image.convert("RGB"), 176)
    if upright is not None:
        preview = preview.transpose(upright)
    data = encode_jpeg(preview)
    originals.save_preview(original, data)
    return data
