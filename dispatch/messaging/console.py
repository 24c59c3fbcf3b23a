"""The console backend's page: the local SMS outbox."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, render_template, request
from markupsafe import Markup, escape

from dispatch.models import OutboxMessage
from repair.cli import add_welcome_line
from repair.db import db

bp = Blueprint("dispatch", __name__)

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})
_URL = re.compile(r"https?://[\x21-\x7e]+")


@bp.app_template_filter("link_urls")
def link_urls(text: str) -> Markup:
    """Escapes text and links its URLs (Chinese SMS put no space before a link)."""
    escaped = str(escape(text))
    return Markup(
        _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    )


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
    from dispatch.messaging.notify import render_message

    return render_template(
        "board/outbox.html", messages=messages, render_message=render_message
    )


def init_app(app: Flask) -> None:
    """Registers the outbox page and its line in `repairdesk run`'s welcome text."""
    app.register_blueprint(bp)
    add_welcome_line(app, "SMS outbox", lambda base: f"{base}/outbox")
