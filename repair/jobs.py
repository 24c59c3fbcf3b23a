"""Background jobs' frame: each runs in an app context and leaves a clean session.

repair's own jobs (photos) and dispatch's (messages, escalation) both use it; the
queues themselves are dispatch's (dispatch.worker.queues).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from flask import Flask, has_app_context

from repair.db import db

_fallback_app: Flask | None = None
_engine_pid: int | None = None


def job(func: Callable) -> Callable:
    """Makes a function an rq job: runs it in an app context, cleans the session."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return _run_clean(func, args, kwargs)
        with _app_for_jobs().app_context():
            return _run_clean(func, args, kwargs)

    return run


def _run_clean(func: Callable, args: tuple, kwargs: dict) -> Any:
    global _engine_pid
    if _engine_pid not in (None, os.getpid()):
        # A forked work horse must not share the parent's pooled connections.
        db.engine.dispose(close=False)
    _engine_pid = os.getpid()
    try:
        return func(*args, **kwargs)
    finally:
        db.session.remove()


def _app_for_jobs() -> Flask:
    # A worker started as plain `rq worker` has no app; build one on first use,
    # never at import time (an import inside: repair imports this module).
    global _fallback_app
    if _fallback_app is None:
        from repair import create_app

        _fallback_app = create_app()
    return _fallback_app
