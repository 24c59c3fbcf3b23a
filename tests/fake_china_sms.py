"""Local HTTP servers that answer like Alibaba Cloud's and Tencent Cloud's SMS APIs.

Each checks the request's signature the way the provider does (ACS3-HMAC-SHA256,
TC3-HMAC-SHA256), so a wrong secret gets the provider's signature error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class _FakeServer:
    """A threaded HTTP server on a free port with a queue of scripted answers."""

    thread_name = "fake-sms"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self._script: deque[tuple[str, int]] = deque()
        #: (action, seconds, deliver): the next call of the action answers only
        #: after `seconds` (the client has timed out by then); a send is still
        #: taken when `deliver` is true, as when the answer is lost on the way.
        self._hangs: deque[tuple[str, float, bool]] = deque()
        #: Actions (as the provider names them) that have been called, in order.
        self.actions: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """Returns http://127.0.0.1:PORT for the backend's endpoint setting."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = fake.answer(self, body)
                payload = json.dumps(answer, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (a hang on command)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, code: str, status: int = 200, times: int = 1) -> None:
        """Queues `times` answers with the provider's error code."""
        for _ in range(times):
            self._script.append((code, status))

    def hang_next(
        self, action: str = "SendSms", seconds: float = 1.0, deliver: bool = True
    ) -> None:
        """Makes the next call of `action` answer late; a SendSms is taken
        (`deliver`) or dropped before the provider records it."""
        self._hangs.append((action, seconds, deliver))

    def _hang(self, action: str) -> tuple[float, bool] | None:
        with self._lock:
            for index, (wanted, seconds, deliver) in enumerate(self._hangs):
                if wanted == action:
                    del self._hangs[index]
                    return seconds, deliver
        return None

    def _scripted(self) -> tuple[str, int] | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def answer(self, handler: BaseHTTPRequestHandler, body: bytes):
        raise NotImplementedError


class FakeAliyunSms(_FakeServer):
    """dysmsapi 2017-05-25 SendSms: checks ACS3 signatures, answers Code/BizId."""

    thread_name = "fake-aliyun-sms"

    def __init__(
        self, access_key_id: str = "LTAItestkeyid", secret: str = "test-secret"
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.secret = secret

    def answer(self, handler: BaseHTTPRequestHandler, body: bytes):
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        self.requests.append({"path": url.path, "query": query, "headers": headers})
        request_id = str(uuid.uuid4()).upper()
        problem = self._check_signature(handler.command, url.path, query, headers, body)
        if problem is not None:
            status, code, message = problem
            return status, {"RequestId": request_id, "Code": code, "Message": message}
        action = headers.get("x-acs-action")
        self.actions.append(action)
        hang = self._hang(action)
        if action == "QuerySendDetails":
            if hang is not None:
                time.sleep(hang[0])
            return 200, self._details(query, request_id)
        if action != "SendSms":
            return 400, {"RequestId": request_id, "Code": "InvalidAction.NotFound"}
        if hang is not None and not hang[1]:
            time.sleep(hang[0])  # lost before the provider took it
            return 503, {"RequestId": request_id, "Code": "ServiceUnavailable"}
        answer = self._send(query, request_id)
        if hang is not None:
            time.sleep(hang[0])  # taken, but the answer comes too late
        return answer

    def _send(self, query: dict, request_id: str):
        scripted = self._scripted()
        if scripted is not None:
            code, status = scripted
            return status, {"RequestId": request_id, "Code": code, "Message": code}
        if not query.get("PhoneNumbers", "").isdigit():
            return 200, {
                "RequestId": request_id,
                "Code": "isv.MOBILE_NUMBER_ILLEGAL",
                "Message": "非法手机号",
            }
        biz_id = f"{uuid.uuid4().int % 10**15:015d}^0"
        self.messages.append(
            {
                "biz_id": biz_id,
                "to": query["PhoneNumbers"],
                "sign_name": query.get("SignName"),
                "template_code": query.get("TemplateCode"),
                "params": json.loads(query.get("TemplateParam") or "{}"),
                "out_id": query.get("OutId"),
                "send_date": datetime.now(UTC).astimezone(CHINA),
            }
        )
        return 200, {
            "RequestId": request_id,
            "Code": "OK",
            "Message": "OK",
            "BizId": biz_id,
        }

    def _details(self, query: dict, request_id: str) -> dict:
        """QuerySendDetails: the messages to one number on one day (China time)."""
        size = int(query.get("PageSize") or 10)
        page = int(query.get("CurrentPage") or 1)
        found = [
            m
            for m in self.messages
            if m["to"] == query.get("PhoneNumber")
            and m["send_date"].strftime("%Y%m%d") == query.get("SendDate")
        ]
        records = [
            {
                "PhoneNum": m["to"],
                "SendStatus": 3,
                "ErrCode": "DELIVERED",
                "TemplateCode": m["template_code"],
                "Content": m.get("content") or "",
                "SendDate": m["send_date"].strftime("%Y-%m-%d %H:%M:%S"),
                "ReceiveDate": m["send_date"].strftime("%Y-%m-%d %H:%M:%S"),
                "OutId": m["out_id"],
            }
            for m in found[(page - 1) * size : page * size]
        ]
        return {
            "RequestId": request_id,
            "Code": "OK",
            "Message": "OK",
            "TotalCount": len(found),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": records},
        }

    def _check_signature(self, method, path, query, headers, body):
        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "ACS3-HMAC-SHA256":
            return 400, "IncompleteSignature", "The request signature is incomplete."
        fields = dict(part.split("=", 1) for part in rest.split(","))
        if fields.get("Credential") != self.access_key_id:
            return (
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        payload = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload:
            return 400, "SignatureDoesNotMatch", "The payload hash does not match."
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_query = "&".join(
            f"{key}={quote(query[key], safe='~')}" for key in sorted(query)
        )
        canonical_headers = "".join(
            f"{name}:{headers.get(name, '').strip()}\n" for name in signed
        )
        canonical = "\n".join(
            [
                method,
                path or "/",
                canonical_query,
                canonical_headers,
                ";".join(signed),
                payload,
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(
            self.secret.encode(), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return (
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        return None


class FakeTencentSms(_FakeServer):
    """sms 2021-01-11 SendSms: checks TC3 signatures, answers SendStatusSet."""

    thread_name = "fake-tencent-sms"

    def __init__(
        self,
        secret_id: str = "AKIDtestsecretid",
        secret_key: str = "test-secret-key",
        app_id: str = "1400000000",
    ) -> None:
        super().__init__()
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app_id = app_id
        #: Whether delivery reports of sent messages can be pulled yet.
        self.reports = True

    def fail_next(self, code: str, status: int = 200, times: int = 1) -> None:
        """Queues error answers: a SendStatusSet code, or an Error (status < 0)."""
        super().fail_next(code, status, times)

    def answer(self, handler: BaseHTTPRequestHandler, body: bytes):
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = json.loads(body or b"{}")
        self.requests.append(
            {"path": handler.path, "headers": headers, "json": request}
        )
        request_id = str(uuid.uuid4())
        problem = self._check_signature(handler.command, handler.path, headers, body)
        if problem is None and request.get("SmsSdkAppId") != self.app_id:
            problem = (
                "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
                "SmsSdkAppId verify fail.",
            )
        if problem is not None:
            code, message = problem
            return 200, {
                "Response": {
                    "Error": {"Code": code, "Message": message},
                    "RequestId": request_id,
                }
            }
        action = headers.get("x-tc-action", "")
        self.actions.append(action)
        hang = self._hang(action)
        if action == "PullSmsSendStatusByPhoneNumber":
            if hang is not None:
                time.sleep(hang[0])
            return 200, self._pull(request, request_id)
        if hang is not None and not hang[1]:
            time.sleep(hang[0])  # lost before the provider took it
            return 502, {}
        answer = self._send(request, request_id)
        if hang is not None:
            time.sleep(hang[0])  # taken, but the answer comes too late
        return answer

    def _pull(self, request: dict, request_id: str) -> dict:
        """PullSmsSendStatusByPhoneNumber: delivery reports of one number."""
        offset, limit = int(request.get("Offset") or 0), int(request.get("Limit") or 0)
        reports = [
            {
                "UserReceiveTime": int(m["sent_at"].timestamp()),
                "CountryCode": "86",
                "SubscriberNumber": m["to"][3:],
                "PhoneNumber": m["to"],
                "SerialNo": m["serial"],
                "ReportStatus": "SUCCESS",
                "Description": "用户短信接收成功",
                "SessionContext": m["session_context"],
            }
            for m in self.messages
            if m["to"] == request.get("PhoneNumber") and self.reports
        ]
        return {
            "Response": {
                "PullSmsSendStatusSet": reports[offset : offset + limit],
                "RequestId": request_id,
            }
        }

    def _send(self, request: dict, request_id: str):
        scripted = self._scripted()
        if scripted is not None and scripted[1] < 0:
            return 200, {
                "Response": {
                    "Error": {"Code": scripted[0], "Message": scripted[0]},
                    "RequestId": request_id,
                }
            }
        statuses = []
        for phone in request.get("PhoneNumberSet", []):
            serial = f"2640:{uuid.uuid4().int % 10**28:028d}"
            if scripted is not None:
                code, message, serial = scripted[0], scripted[0], ""
            elif not (
                phone.startswith("+86") and phone[3:].isdigit() and len(phone) == 14
            ):
                code, message, serial = (
                    "InvalidParameterValue.IncorrectPhoneNumber",
                    "invalid phone number",
                    "",
                )
            else:
                code, message = "Ok", "send success"
                self.messages.append(
                    {
                        "serial": serial,
                        "to": phone,
                        "sign_name": request.get("SignName"),
                        "template_id": request.get("TemplateId"),
                        "params": request.get("TemplateParamSet", []),
                        "session_context": request.get("SessionContext", ""),
                        "sent_at": datetime.now(UTC),
                    }
                )
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": request.get("SessionContext", ""),
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}

    def _check_signature(self, method, path, headers, body):
        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "TC3-HMAC-SHA256":
            return (
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            )
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        secret_id, date, service, _ = fields.get("Credential", "///").split("/")
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found."
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_headers = "".join(
            f"{name}:{headers.get(name, '')}\n" for name in signed
        )
        canonical = "\n".join(
            [
                method,
                urlsplit(path).path or "/",
                "",
                canonical_headers,
                ";".join(signed),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{service}/tc3_request"
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                headers.get("x-tc-timestamp", ""),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )

        def sign(key: bytes, text: str) -> bytes:
            return hmac.new(key, text.encode(), hashlib.sha256).digest()

        key = sign(
            sign(sign(("TC3" + self.secret_key).encode(), date), service), "tc3_request"
        )
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return (
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            )
        return None
