"""Dispatch's pages: the local SMS outbox (console backend)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, render_template, request

from dispatch.models import OutboxMessage
from repair.db import db

bp = Blueprint("dispatch", __name__)

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})


@bp.get("/outbox")
def outbox():
    """Shows the newest SMS messages, to try the flow without Twilio (local only)."""
    if current_app.config["SMS_BACKEND"] != "console":
        abort(404)
    if not current_app.testing and request.remote_addr not in LOCAL_ADDRESSES:
        abort(404)
    messages = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
    ).all()
    return render_template("board/outbox.html", messages=messages)


def init_app(app: Flask) -> None:
    """Registers dispatch's pages."""
    app.register_blueprint(bp)
