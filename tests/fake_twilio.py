"""A local HTTP server that answers like Twilio's Messages API, for tests."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from dispatch.messaging.backends import sms_segments

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$"
)
# Twilio's usual code for each HTTP status, used when a test scripts none.
DEFAULT_ERROR_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
DEFAULT_ERROR_MESSAGES = {
    401: "Authenticate",
    404: "The requested resource was not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# Twilio's "Unknown error", sent in a failed or undelivered callback by default.
UNKNOWN_DELIVERY_ERROR = 30008


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer a test asked for, sent instead of the normal one."""

    status: int
    code: int | None
    message: str
    raw_body: str | None = None
    to: str | None = None  # only requests to this number, when set


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1: records requests, scripts failures."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "test-auth-token",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self._script: deque[ScriptedResponse] = deque()
        #: Seconds to wait before answering the next message requests (which
        #: are taken all the same): a provider that takes a message, then hangs.
        self._delays: deque[tuple[float, str | None]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Returns http://127.0.0.1:PORT for TWILIO_API_BASE_URL."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        """Starts serving on a free port in a background thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # so stop() returns at once
            name="fake-twilio",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and frees the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        *,
        times: int = 1,
        raw_body: str | None = None,
        to: str | None = None,
    ) -> None:
        """Queues `times` error answers, consumed in order before any success
        (with ``to``, only by requests to that number)."""
        scripted = ScriptedResponse(
            status=status,
            code=code if code is not None else DEFAULT_ERROR_CODES.get(status),
            message=message or DEFAULT_ERROR_MESSAGES.get(status, "Error"),
            raw_body=raw_body,
            to=to,
        )
        with self._lock:
            self._script.extend([scripted] * times)

    def delay_next(
        self, seconds: float, *, times: int = 1, to: str | None = None
    ) -> None:
        """Takes the next `times` messages (to `to`, when set) but answers each
        only after `seconds`."""
        with self._lock:
            self._delays.extend([(seconds, to)] * times)

    def take_delay(self, to: str | None) -> float:
        """Returns the wait scripted for an answer to `to` (0 when none is)."""
        with self._lock:
            for delay in self._delays:
                if delay[1] in (None, to):
                    self._delays.remove(delay)
                    return delay[0]
        return 0.0

    def listing(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        """Answers GET Messages.json: the newest messages first, filtered by To."""
        match = MESSAGES_PATH.match(path)
        if not match or match["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        with self._lock:
            self.requests.append({"method": "GET", "path": path, "query": query})
            found = [
                m
                for m in reversed(self.messages)
                if m["to"] == query.get("To", m["to"])
            ]
        size = int(query.get("PageSize") or 50)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        page = {
            "messages": found[:size],
            "uri": uri,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": size,
            "start": 0,
            "end": max(0, min(size, len(found)) - 1),
        }
        return 200, json.dumps(page)

    def message(self, sid: str) -> dict[str, Any]:
        """Returns the message resource sent with this SID."""
        for message in self.messages:
            if message["sid"] == sid:
                return message
        raise KeyError(f"FakeTwilio sent no message {sid!r}")

    def status_callback_params(
        self,
        message_sid: str,
        status: str,
        error_code: int | None = None,
        *,
        to: str | None = None,
        from_: str | None = None,
    ) -> dict[str, str]:
        """Returns the form fields Twilio posts to a message's StatusCallback URL."""
        if to is None or from_ is None:
            sent = self.message(message_sid)
            to = sent["to"] if to is None else to
            from_ = (sent["from"] or "") if from_ is None else from_
            service_sid = sent["messaging_service_sid"]
        else:
            service_sid = None
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": from_,
            "MessageSid": message_sid,
            "MessageStatus": status,
            "SmsSid": message_sid,
            "SmsStatus": status,
            "To": to,
        }
        if service_sid:
            params["MessagingServiceSid"] = service_sid
        if error_code is None and status in ("failed", "undelivered"):
            error_code = UNKNOWN_DELIVERY_ERROR
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    def _answer(
        self, path: str, headers: dict[str, str], form: dict[str, str]
    ) -> tuple[int, str]:
        """Returns the status and JSON body for one request, recording it."""
        with self._lock:
            self.requests.append(
                {
                    "method": "POST",
                    "path": path,
                    "headers": headers,
                    "auth": _basic_auth(headers.get("Authorization", "")),
                    "form": form,
                }
            )
            scripted = next(
                (s for s in self._script if s.to in (None, form.get("To"))), None
            )
            if scripted is not None:
                self._script.remove(scripted)
        if scripted is not None:
            if scripted.raw_body is not None:
                return scripted.status, scripted.raw_body
            return _error(scripted.status, scripted.code, scripted.message)
        if _basic_auth(headers.get("Authorization", "")) != (
            self.account_sid,
            self.auth_token,
        ):
            return _error(401, 20003, "Authenticate")
        match = MESSAGES_PATH.match(path)
        if not match or match["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        problem = _invalid_message(form)
        if problem:
            return _error(400, *problem)
        message = self._message_resource(form)
        with self._lock:
            self.messages.append(message)
        return 201, json.dumps(message)

    def _message_resource(self, form: dict[str, str]) -> dict[str, Any]:
        """Returns a Message resource as Twilio's JSON shapes it."""
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=False)
        service_sid = form.get("MessagingServiceSid") or None
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": service_sid,
            "num_media": "0",
            "num_segments": str(sms_segments(form["Body"])),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # With a Messaging Service and no From, Twilio answers "accepted".
            "status": "accepted" if service_sid and not form.get("From") else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
            # Not part of Twilio's resource: kept so tests can see what was asked.
            "validity_period": form.get("ValidityPeriod"),
            "status_callback": form.get("StatusCallback"),
        }


def _invalid_message(form: dict[str, str]) -> tuple[int, str] | None:
    """Returns Twilio's error code and message for a request it would refuse."""
    if not form.get("To"):
        return 21604, "A 'To' phone number is required."
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return 21603, "A 'From' or 'MessagingServiceSid' parameter is required."
    if not form.get("Body"):
        return 21602, "Message body is required."
    if len(form["Body"]) > 1600:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    return None


def _error(status: int, code: int | None, message: str) -> tuple[int, str]:
    """Returns a status and Twilio's JSON error body."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }
    return status, json.dumps(body)


def _basic_auth(header: str) -> tuple[str, str] | None:
    """Returns (user, password) from an HTTP Basic Authorization header."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    """Returns a request handler class bound to one FakeTwilio."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = dict(parse_qsl(raw, keep_blank_values=True))
            headers = {key: value for key, value in self.headers.items()}
            status, body = fake._answer(self.path, headers, form)
            time.sleep(fake.take_delay(form.get("To")))
            self._send(status, body)

        def do_GET(self) -> None:
            path, _, raw = self.path.partition("?")
            status, body = fake.listing(path, dict(parse_qsl(raw)))
            self._send(status, body)

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                # The client gave up waiting (a delay on command). Left to
                # socketserver, this thread would print a traceback, and
                # formatting one while the main thread parses (CPython 3.11's
                # AST recursion counter is shared between threads) can fail
                # the test that happens to be running with a SystemError.
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Keeps test output quiet."""

    return Handler
