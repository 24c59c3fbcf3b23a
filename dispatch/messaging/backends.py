"""SMS backends: the console stand-in, Twilio and (in domestic.py) China's providers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import requests
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from repair.config import parse_duration

log = logging.getLogger(__name__)

# Twilio error codes that no retry can fix; any other 4xx except 429 is permanent
# too, these are named so the reason is clear when reading a failed message.
PERMANENT_ERROR_CODES: dict[int, str] = {
    20003: "authentication failed (wrong account SID or auth token)",
    21211: "the 'To' number is not a valid phone number",
    21408: "SMS to this region is not enabled on the account",
    21602: "the message body is empty",
    21606: "the 'From' number cannot send SMS",
    21610: "the recipient has opted out (replied STOP)",
    21612: "Twilio cannot route a message between these two numbers",
    21614: "the 'To' number is not a mobile number (e.g. a landline)",
    21617: "the message body is too long (over 1600 characters)",
    21635: "the 'To' number cannot be reached (landline or unreachable carrier)",
}

#: How many of the newest messages to a number are looked through after an
#: ambiguous send.
FIND_LIMIT = 20

# Twilio's "too many requests" code: back off and retry, whatever the HTTP status.
RATE_LIMIT_ERROR_CODE = 20429

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters reached through the escape code: each takes two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SendResult:
    """What a provider answered when it accepted a message."""

    provider_id: str
    status: str


class SmsError(Exception):
    """A message could not be handed to the provider."""

    def __init__(
        self, message: str, *, code: int | None = None, status: int | None = None
    ) -> None:
        details = ", ".join(
            part
            for part in (
                f"HTTP {status}" if status is not None else "",
                f"Twilio error {code}" if code is not None else "",
            )
            if part
        )
        super().__init__(f"{message} ({details})" if details else message)
        self.message = message
        self.code = code
        self.status = status


class TransientSmsError(SmsError):
    """A failure worth retrying later with backoff (network, 5xx, rate limit)."""


class PermanentSmsError(SmsError):
    """A failure no retry can fix (invalid number, opted out, bad credentials)."""


class AmbiguousSmsError(TransientSmsError):
    """The request may have reached the provider (it timed out waiting for the
    answer): ask the provider (``find_sent``) before sending again."""


#: What a network error says when the request never left us (refused, no route,
#: no name, connect timeout): only then is a send known not to have happened.
NOT_CONNECTED = (
    "ConnectTimeout",
    "Connection refused",
    "NewConnectionError",
    "NameResolutionError",
    "Failed to resolve",
    "Name or service not known",
    "No route to host",
    "Network is unreachable",
)


def never_connected(error: BaseException | str) -> bool:
    """Returns True when a network error shows the request never reached the
    provider, so a new attempt cannot send the message twice."""
    text = (
        f"{type(error).__name__}: {error}"
        if isinstance(error, BaseException)
        else error
    )
    return any(marker in text for marker in NOT_CONNECTED)


class SmsBackend(Protocol):
    """Sends one SMS and returns the provider's id and status."""

    name: str

    def send(
        self,
        to: str,
        body: str,
        *,
        validity_seconds: int | None = None,
        status_callback: str | None = None,
        kind: str | None = None,
        variables: Mapping[str, str] | None = None,
        reference: str | None = None,
    ) -> SendResult:
        """Sends body to the E.164 number `to`; raises an SmsError subclass.

        Template backends send the message kind's approved template with its
        variables instead of the body; the others send the body. `reference` is
        our own id of the message, given to providers that keep one (Alibaba
        Cloud's OutId, Tencent Cloud's SessionContext) so it can be found again.
        """
        ...

    def find_sent(
        self,
        to: str,
        body: str,
        since: datetime,
        *,
        reference: str | None = None,
        kind: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> SendResult | None:
        """Returns the message the provider took for `to` since `since` (matched
        on our reference, or on its text), if it has one (after an ambiguous
        send); None when it has none; raises SmsError when it cannot tell."""
        ...


class ConsoleBackend:
    """Sends nothing: the outbox rows are the messages, shown on a local page."""

    name = "console"

    def send(
        self,
        to: str,
        body: str,
        *,
        validity_seconds: int | None = None,
        status_callback: str | None = None,
        kind: str | None = None,
        variables: Mapping[str, str] | None = None,
        reference: str | None = None,
    ) -> SendResult:
        """Returns a made-up console id after logging the message."""
        provider_id = f"console-{uuid4().hex[:16]}"
        log.info(
            "console SMS %s to %s (%d segments): %s",
            provider_id,
            to,
            sms_segments(body),
            body,
        )
        return SendResult(provider_id=provider_id, status="sent")

    def find_sent(
        self, to: str, body: str, since: datetime, **_ignored: Any
    ) -> SendResult | None:
        """Knows of no message: the console sends nothing anywhere."""
        return None


class _BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with every request sent to one base URL."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        """Sends the request the SDK built to the same path under the base URL."""
        target = urlsplit(url)
        rewritten = urlunsplit(
            (
                self.base.scheme,
                self.base.netloc,
                self.base.path + target.path,
                target.query,
                "",
            )
        )
        return super().request(method, rewritten, **kwargs)


class TwilioBackend:
    """Sends through Twilio's Messages API with the official SDK."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_: str = "",
        messaging_service_sid: str = "",
        api_base_url: str = "",
        timeout: float = 10.0,
    ) -> None:
        if not (from_ or messaging_service_sid):
            raise ValueError("TwilioBackend needs from_ or messaging_service_sid")
        if api_base_url:
            parts = urlsplit(api_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(
                    f"TWILIO_API_BASE_URL must look like http://host:port, "
                    f"not {api_base_url!r}"
                )
            http_client: TwilioHttpClient = _BaseUrlHttpClient(
                api_base_url, timeout=timeout
            )
        else:
            http_client = TwilioHttpClient(timeout=timeout)
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def send(
        self,
        to: str,
        body: str,
        *,
        validity_seconds: int | None = None,
        status_callback: str | None = None,
        kind: str | None = None,
        variables: Mapping[str, str] | None = None,
        reference: str | None = None,
    ) -> SendResult:
        """Creates the Message resource; raises Transient or PermanentSmsError."""
        params: dict[str, Any] = {"to": to, "body": body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_
        if validity_seconds is not None:
            params["validity_period"] = validity_seconds
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            raise classify_error(exc.status, exc.code, exc.msg) from exc
        except TwilioServiceException as exc:
            raise classify_error(exc.status, exc.code, exc.detail or exc.title) from exc
        except requests.ConnectTimeout as exc:
            raise TransientSmsError(f"could not reach Twilio in time: {exc}") from exc
        except requests.Timeout as exc:
            # The request went out: Twilio may have taken the message.
            raise AmbiguousSmsError(f"Twilio did not answer in time: {exc}") from exc
        except (requests.RequestException, TwilioException) as exc:
            raise TransientSmsError(f"could not reach Twilio: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise TransientSmsError(f"Twilio's answer was not JSON: {exc}") from exc
        if not message.sid:
            raise TransientSmsError("Twilio's answer carried no message SID")
        return SendResult(provider_id=message.sid, status=str(message.status or ""))

    def find_sent(
        self, to: str, body: str, since: datetime, **_ignored: Any
    ) -> SendResult | None:
        """Looks through Twilio's newest messages to `to` for this body, created
        since `since` (Twilio keeps no idempotency key for messages)."""
        try:
            recent = self.client.messages.list(to=to, limit=FIND_LIMIT)
        except TwilioRestException as exc:
            raise classify_error(exc.status, exc.code, exc.msg) from exc
        except (requests.RequestException, TwilioException) as exc:
            raise TransientSmsError(f"could not ask Twilio: {exc}") from exc
        for message in recent:
            created = message.date_created
            if message.body != body or (created is not None and created < since):
                continue
            if self.from_ and message.from_ not in (None, self.from_):
                continue
            return SendResult(provider_id=message.sid, status=str(message.status))
        return None


def classify_error(status: int | None, code: int | None, message: str) -> SmsError:
    """Returns the Transient or PermanentSmsError for an HTTP status and code."""
    # Without a JSON error body the SDK reports the HTTP status as the code.
    if code is not None and code == status:
        code = None
    if status == 429 or code == RATE_LIMIT_ERROR_CODE:
        return TransientSmsError(message, code=code, status=status)
    if code in PERMANENT_ERROR_CODES:
        return PermanentSmsError(message, code=code, status=status)
    if status is not None and 400 <= status < 500:
        return PermanentSmsError(message, code=code, status=status)
    return TransientSmsError(message, code=code, status=status)


def backend_from_settings(config: Mapping[str, Any]) -> SmsBackend:
    """Returns the backend named by SMS_BACKEND, configured from the settings."""
    name = str(config.get("SMS_BACKEND") or "console").strip().lower()
    if name == "console":
        return ConsoleBackend()
    if name in ("aliyun", "tencent"):
        return _domestic_backend(name, config)
    if name != "twilio":
        raise ValueError(
            f"unknown SMS_BACKEND {name!r}: use 'console', 'twilio', 'aliyun' or "
            f"'tencent' (REPAIRDESK_SMS_BACKEND in the environment)"
        )
    missing = [
        key
        for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
        if not config.get(key)
    ]
    if not (config.get("TWILIO_FROM") or config.get("TWILIO_MESSAGING_SERVICE_SID")):
        missing.append("TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")
    if missing:
        raise ValueError(
            "SMS_BACKEND 'twilio' needs "
            + ", ".join(missing)
            + " (REPAIRDESK_<KEY> in the environment)"
        )
    return TwilioBackend(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_AUTH_TOKEN"],
        from_=config.get("TWILIO_FROM") or "",
        messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID") or "",
        api_base_url=config.get("TWILIO_API_BASE_URL") or "",
        timeout=parse_duration(config.get("SMS_TIMEOUT") or "10s").total_seconds(),
    )


DOMESTIC_KEYS = {
    "aliyun": ("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET"),
    "tencent": ("TENCENT_SECRET_ID", "TENCENT_SECRET_KEY", "TENCENT_SMS_APP_ID"),
}


def _domestic_backend(name: str, config: Mapping[str, Any]) -> SmsBackend:
    """Returns the Alibaba Cloud or Tencent Cloud backend, checked for its settings."""
    from dispatch.messaging.domestic import AliyunBackend, TencentBackend
    from dispatch.messaging.templates import load_templates

    missing = [key for key in DOMESTIC_KEYS[name] if not config.get(key)]
    if not config.get("SMS_TEMPLATES"):
        missing.append("SMS_TEMPLATES")
    if missing:
        raise ValueError(
            f"SMS_BACKEND {name!r} needs "
            + ", ".join(missing)
            + " (REPAIRDESK_<KEY> in the environment)"
        )
    templates = load_templates(config["SMS_TEMPLATES"], name)
    sign_name = config.get("SMS_SIGN_NAME") or templates.sign_name
    if not sign_name:
        raise ValueError(
            f"SMS_BACKEND {name!r} needs SMS_SIGN_NAME (REPAIRDESK_SMS_SIGN_NAME) "
            f"or sign_name in {config['SMS_TEMPLATES']}"
        )
    timeout = parse_duration(config.get("SMS_TIMEOUT") or "10s").total_seconds()
    if name == "aliyun":
        return AliyunBackend(
            config["ALIYUN_ACCESS_KEY_ID"],
            config["ALIYUN_ACCESS_KEY_SECRET"],
            sign_name=sign_name,
            templates=templates,
            endpoint=config.get("ALIYUN_SMS_ENDPOINT") or "",
            timeout=timeout,
        )
    return TencentBackend(
        config["TENCENT_SECRET_ID"],
        config["TENCENT_SECRET_KEY"],
        app_id=str(config["TENCENT_SMS_APP_ID"]),
        sign_name=sign_name,
        templates=templates,
        endpoint=config.get("TENCENT_SMS_ENDPOINT") or "",
        timeout=timeout,
    )


def sms_segments(body: str) -> int:
    """Returns how many SMS segments body takes (GSM-7 if it can, else UCS-2)."""
    if not body:
        return 0
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body):
        units = [2 if char in GSM7_EXTENSION else 1 for char in body]
        single, per_part = 160, 153
    else:
        units = [2 if ord(char) > 0xFFFF else 1 for char in body]
        single, per_part = 70, 67
    if sum(units) <= single:
        return 1
    # An escape pair or a surrogate pair is never split across two parts.
    parts, used = 1, 0
    for size in units:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts
