"""JSON logs (REPAIRDESK_LOG_FORMAT=json): one line per request and per job, with a
request id and the ticket number, and phone numbers masked in every line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Flask, g, request

from repair import signals

log = logging.getLogger("repairdesk.request")

#: The ticket the current request or job is about (set when an event is recorded).
current_ticket: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "repairdesk_ticket", default=None
)
#: The request id, or the job id in a worker.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "repairdesk_request_id", default=None
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: 11 to 15 digits, optionally with a +: mobile numbers in any form we store them.
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ]{9,16}\d(?![\w-])")
_TICKET_PATH = re.compile(r"^/t/([A-Z]+-\d{8}-\d{4,})")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def mask_phones(text: str) -> str:
    """Returns ``text`` with anything that looks like a phone number masked."""
    return _PHONE.sub("[phone]", text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, the
    request id and ticket of the context, and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, ticket = current_request_id.get(), current_ticket.get()
        if request_id:
            entry["request_id"] = request_id
        if ticket:
            entry["ticket"] = ticket
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return mask_phones(json.dumps(entry, ensure_ascii=False, default=str))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (systemd's journal, a test's capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def is_json() -> bool:
    """Returns whether this process logs JSON lines."""
    return any(isinstance(h, _StderrHandler) for h in logging.getLogger().handlers)


def use_json_logs() -> None:
    """Sends every log record to stderr as a JSON line (once per process)."""
    root = logging.getLogger()
    if any(isinstance(h, _StderrHandler) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def start_context(request_id: str | None = None) -> None:
    """Starts a request's or job's log context: its id and no ticket yet."""
    current_request_id.set(request_id or uuid.uuid4().hex)
    current_ticket.set(None)


def _on_event_recorded(_sender, *, ticket, **_) -> None:
    if ticket.number:
        current_ticket.set(ticket.number)


def _before_request() -> None:
    given = request.headers.get("X-Request-ID", "")
    start_context(given if _REQUEST_ID.match(given) else None)
    match = _TICKET_PATH.match(request.path)
    if match:
        current_ticket.set(match.group(1))
    g.log_started = time.perf_counter()


def _after_request(response):
    response.headers["X-Request-ID"] = current_request_id.get() or ""
    started = g.pop("log_started", None)
    location = _TICKET_PATH.match(urlsplit(response.headers.get("Location", "")).path)
    if location and not current_ticket.get():
        current_ticket.set(location.group(1))
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,  # never the query string: it may hold a key
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)
            if started
            else None,
            "remote_addr": request.remote_addr,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """With LOG_FORMAT=json: JSON lines on stderr and one line per request."""
    if str(app.config.get("LOG_FORMAT", "text")).lower() != "json":
        return
    use_json_logs()
    app.before_request(_before_request)
    app.after_request(_after_request)
    signals.event_recorded.connect(_on_event_recorded, weak=False)
