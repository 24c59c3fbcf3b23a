"""The classifier is loaded before a web process's first request, not inside it."""

from __future__ import annotations

import logging

from flask import Flask

from dispatch.triage.classifier import warm_up

log = logging.getLogger(__name__)
_loaded = False


def init_app(app: Flask) -> None:
    """Loads the classifier's rules and model before the first request."""
    app.before_request(_load_once)


def _load_once() -> None:
    """Loads the rules and the model (0.4 s) before the first request of a
    process, outside any transaction. Loaded lazily by the first report, they were
    read inside its write transaction, and on SQLite every other report waited
    for the write lock meanwhile: after each start of a web worker, and gunicorn
    restarts its workers every ~2000 requests (deploy/gunicorn.conf.py). The form's
    page, a health check or the report itself, whichever comes first, pays."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        warm_up()
    except Exception:  # a broken rules or model file: the report fails, not every page
        log.exception("the classifier could not be loaded ahead of the first report")
