"""App-wide pages: health, photo files, friendly error pages."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import IO

import flask
import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from repair.broker import redis_status
from repair.db import db
from repair.models import Photo
from repair.photos.serving import placeholder_response
from repair.photos.store import photo_store, store_errors
from repair.security import photo_link_is_valid

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)

_HEALTH_CHECKS = "repairdesk.health_checks"


def add_health_check(app: Flask, name: str, check: Callable[[], dict]) -> None:
    """Adds a check to the app's /healthz: a callable returning a JSON-able dict.

    Its "status" is "ok" or another word (which makes the whole report "degraded").
    """
    app.extensions.setdefault(_HEALTH_CHECKS, {})[name] = check


@bp.get("/healthz")
def healthz():
    """Reports database, Redis and registered checks as JSON.

    503 when the database or Redis is unreachable; "degraded" (still 200) when a
    registered check is not ok, e.g. no worker is running.
    """
    report = {"database": _database_status(), "redis": redis_status()}
    reachable = report["database"] == "ok" and report["redis"] == "ok"
    healthy = reachable
    for name, check in current_app.extensions.get(_HEALTH_CHECKS, {}).items():
        report[name] = check() if reachable else {"status": "unknown"}
        healthy = healthy and report[name].get("status") == "ok"
    report["status"] = "ok" if healthy else "degraded"
    return jsonify(report), 200 if reachable else 503


def _database_status() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        return f"error: {type(exc).__name__}"
    return "ok"


@bp.get("/favicon.ico")
def favicon():
    """Answers browsers' favicon requests without an error page."""
    return "", 204, {"Cache-Control": "public, max-age=86400"}


@bp.get("/photos/<sha256>/<any(display, thumb):variant>.jpg")
def photo(sha256: str, variant: str):
    """Streams a ticket's photo from the store through a signed, unexpired link
    (see photo_url).

    Only pages whose viewer may see the photo (the resident with the key, the
    community's officers, the assigned contractor) hand out such links; any other
    request gets 404, as for a photo that does not exist. Names are content
    hashes, so a file never changes: a strong ETag, and the browser may keep it
    privately until the link expires.
    """
    expires = request.args.get("e")
    if not photo_link_is_valid(sha256, variant, expires, request.args.get("s")):
        abort(404)
    attached = db.session.scalar(
        sa.select(Photo.state)
        .where(Photo.sha256 == sha256, Photo.ticket_id.is_not(None))
        .order_by((Photo.state == "ready").desc())  # a ready copy wins
        .limit(1)
    )
    db.session.rollback()  # no transaction held open while the file streams
    if attached in ("pending", "failed"):
        return placeholder_response(attached)
    if attached is None:
        # A signed link no photo answers to any more: handed out while the photo
        # was processed (its name was the original's, the display copy has its
        # own). An outside tester tapped "being processed" once the photo was
        # ready and got "page not found, scan the code again".
        return placeholder_response("changed")
    etag = f"{sha256}.{variant}"
    cache_control = f"private, max-age={_seconds_until(expires)}, immutable"
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        try:
            stored = photo_store().open(
                sha256, "thumbnail" if variant == "thumb" else variant
            )
        except ValueError:
            abort(404)
        except store_errors() as away:
            log.warning("photo store away, %s not served: %s", etag, away)
            abort(503)
        if stored is None:
            abort(404)
        response = Response(
            stored.chunks(), mimetype="image/jpeg", direct_passthrough=True
        )
        response.content_length = stored.size
        response.call_on_close(stored.close)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _seconds_until(expires: str) -> int:
    return max(0, int(expires) - int(time.time()))


#: An uploaded file up to this size is parsed into memory, not a temporary file:
#: a phone photo is read once, straight into the original store, instead of being
#: written to /tmp and read back (werkzeug's default spills above 500 KB).
UPLOAD_IN_MEMORY_BYTES = 32 * 1024 * 1024


class Request(flask.Request):
    """Flask's request, keeping uploads of a phone photo's size in memory."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if total_content_length is not None and (
            total_content_length <= UPLOAD_IN_MEMORY_BYTES
        ):
            return io.BytesIO()
        return super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )


def init_app(app: Flask) -> None:
    """Registers the blueprint and error pages that never show a stack trace."""
    app.request_class = Request
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("error.html", code=400, reason="csrf"), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if error.response is not None:  # a page of the view's own (a rate limit's)
            return error.response
        return render_template("error.html", code=error.code, reason=None), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        log.exception("unhandled error")
        db.session.rollback()
        return render_template("error.html", code=500, reason=None), 500
