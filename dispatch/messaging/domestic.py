"""SMS through China's own providers: Alibaba Cloud and Tencent Cloud, by template."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dispatch.messaging.backends import (
    AmbiguousSmsError,
    PermanentSmsError,
    SendResult,
    SmsError,
    TransientSmsError,
    never_connected,
)
from dispatch.messaging.templates import (
    ALIYUN_VARIABLE,
    TENCENT_VARIABLE,
    ProviderTemplates,
)

log = logging.getLogger(__name__)

ALIYUN_ENDPOINT = "dysmsapi.aliyuncs.com"
TENCENT_ENDPOINT = "sms.tencentcloudapi.com"
TENCENT_REGION = "ap-guangzhou"
#: Both providers date their records in China Standard Time.
PROVIDER_ZONE = ZoneInfo("Asia/Shanghai")
#: Records asked for per page when looking for a message after an ambiguous send
#: (Alibaba Cloud allows 50, Tencent Cloud 100).
QUERY_PAGE = 50
#: At most this many pages are read per day or per query.
QUERY_PAGES = 10

#: Alibaba Cloud's codes worth retrying with back-off: flow control per number
#: (per minute, hour, day), per account, and the platform's own hiccups.
ALIYUN_TRANSIENT_CODES: dict[str, str] = {
    "isv.BUSINESS_LIMIT_CONTROL": "per-number flow control (minute/hour/day limit)",
    "isv.DAY_LIMIT_CONTROL": "the account's daily limit is reached",
    "isv.OUT_OF_SERVICE": "the account is suspended (arrears)",
    "isv.AMOUNT_NOT_ENOUGH": "the account's balance is too low",
    "Throttling.User": "the API is called too often",
    "Throttling": "the API is called too often",
    "SignatureNonceUsed": "a signature nonce was reused",
    "isp.SYSTEM_ERROR": "Alibaba Cloud's system error",
    "isp.RAM_PERMISSION_DENY": "a RAM permission check failed on the provider's side",
    "ServiceUnavailable": "the service is unavailable",
    "InternalError": "Alibaba Cloud's internal error",
}
#: Codes no retry can fix: the number, the blacklist, the template or credentials.
ALIYUN_PERMANENT_CODES: dict[str, str] = {
    "isv.MOBILE_NUMBER_ILLEGAL": "the number is not a valid mobile number",
    "isv.BLACK_KEY_CONTROL_LIMIT": "the text contains a blacklisted word",
    "isv.BLACKLIST_LIMIT": "the number is on the blacklist (unsubscribed)",
    "isv.DENY_IP_RANGE": "the source IP is not allowed",
    "isv.SMS_SIGNATURE_ILLEGAL": "the signature is not approved",
    "isv.SMS_TEMPLATE_ILLEGAL": "the template is not approved",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template is missing a variable",
    "isv.INVALID_PARAMETERS": "a parameter is invalid",
    "isv.PARAM_LENGTH_LIMIT": "a variable is longer than the template allows",
    "isv.PARAM_NOT_SUPPORT_URL": "a variable carries a URL",
    "isv.INVALID_JSON_PARAM": "the template variables are not valid JSON",
    "isv.MOBILE_COUNT_OVER_LIMIT": "too many numbers in one request",
    "isv.ACCOUNT_NOT_EXISTS": "the account does not exist",
    "isv.ACCOUNT_ABNORMAL": "the account is abnormal",
    "SignatureDoesNotMatch": "the AccessKey secret is wrong",
    "IncompleteSignature": "the request's signature is incomplete",
    "InvalidAccessKeyId.NotFound": "the AccessKey ID does not exist",
    "InvalidAccessKeyId.Inactive": "the AccessKey ID is disabled",
    "Forbidden.RAM": "the AccessKey may not send SMS",
}

#: Tencent Cloud's codes worth retrying: frequency limits per number and per
#: account, and the platform's own failures.
TENCENT_TRANSIENT_PREFIXES = (
    "LimitExceeded.",
    "InternalError.",
    "RequestLimitExceeded",
)
TENCENT_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestLimitExceeded",
        "ServerNetworkError",
        "ClientNetworkError",
        "FailedOperation.InsufficientBalanceInSmsPackage",
    }
)
#: Codes no retry can fix; anything else not listed as transient is permanent too.
TENCENT_PERMANENT_CODES: dict[str, str] = {
    "InvalidParameterValue.IncorrectPhoneNumber": "the number is not valid",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (
        "domestic and international numbers in one request"
    ),
    "FailedOperation.PhoneNumberInBlacklist": "the number is blacklisted (opted out)",
    "FailedOperation.PhoneNumberOnBlacklist": "the number is blacklisted",
    "FailedOperation.ContainSensitiveWord": "the text contains a sensitive word",
    "FailedOperation.SignatureIncorrectOrUnapproved": "the signature is not approved",
    "FailedOperation.TemplateIncorrectOrUnapproved": "the template is not approved",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": (
        "the variables do not match the approved template"
    ),
    "InvalidParameterValue.TemplateParameterFormatError": "a variable is malformed",
    "InvalidParameterValue.TemplateParameterLengthLimit": "a variable is too long",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": (
        "a variable carries a URL"
    ),
    "AuthFailure.SignatureFailure": "the SecretKey is wrong",
    "AuthFailure.SecretIdNotFound": "the SecretId does not exist",
    "AuthFailure.SignatureExpire": "the request's clock is off",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "the SmsSdkAppId is wrong",
}


class DomesticSmsError(SmsError):
    """An error whose code is the provider's string code, not Twilio's number."""

    def __init__(self, message: str, *, provider_code: str, **kwargs) -> None:
        super().__init__(f"{message} [{provider_code}]", **kwargs)
        self.provider_code = provider_code


class DomesticTransientSmsError(DomesticSmsError, TransientSmsError):
    """A provider's throttling or outage: retried with back-off."""


class DomesticPermanentSmsError(DomesticSmsError, PermanentSmsError):
    """A provider's refusal no retry can fix (number, blacklist, template, keys)."""


def classify_aliyun(code: str, message: str, status: int | None = None) -> SmsError:
    """Returns the transient or permanent error for an Alibaba Cloud code."""
    if code in ALIYUN_TRANSIENT_CODES or code.startswith("Throttling"):
        reason = ALIYUN_TRANSIENT_CODES.get(code, "throttled")
        return DomesticTransientSmsError(
            f"Alibaba Cloud: {reason}: {message}", provider_code=code, status=status
        )
    if code in ALIYUN_PERMANENT_CODES:
        reason = ALIYUN_PERMANENT_CODES[code]
        return DomesticPermanentSmsError(
            f"Alibaba Cloud: {reason}: {message}", provider_code=code, status=status
        )
    if status is not None and status >= 500:
        return DomesticTransientSmsError(
            f"Alibaba Cloud: {message}", provider_code=code, status=status
        )
    return DomesticPermanentSmsError(
        f"Alibaba Cloud: {message}", provider_code=code, status=status
    )


def classify_tencent(code: str, message: str) -> SmsError:
    """Returns the transient or permanent error for a Tencent Cloud code."""
    if code in TENCENT_TRANSIENT_CODES or code.startswith(TENCENT_TRANSIENT_PREFIXES):
        return DomesticTransientSmsError(
            f"Tencent Cloud: {message}", provider_code=code
        )
    reason = TENCENT_PERMANENT_CODES.get(code)
    text = f"{reason}: {message}" if reason else message
    return DomesticPermanentSmsError(f"Tencent Cloud: {text}", provider_code=code)


def split_endpoint(endpoint: str, default_host: str) -> tuple[str, str]:
    """Returns (protocol, host[:port]) from a bare host or an http(s) URL."""
    if not endpoint:
        return "https", default_host
    if "://" not in endpoint:
        return "https", endpoint.rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"an SMS endpoint must be a host or http(s)://host:port, not {endpoint!r}"
        )
    return parts.scheme, parts.netloc


def national_number(to: str) -> str:
    """Returns a mainland number without +86 (Alibaba Cloud's form), others as E.164."""
    if to.startswith("+86"):
        return to[3:]
    return to.lstrip("+") if to.startswith("+") else to


class TemplateBackend:
    """A provider that sends only approved templates: the message kind picks the
    template, its named variables fill it (the rendered text is not sent)."""

    templates: ProviderTemplates
    sign_name: str

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
        """Sends the kind's template with its variables; raises an SmsError (an
        AmbiguousSmsError when the provider may have taken it)."""
        template_id, params = self.templates.request_for(kind, variables or {})
        return self.send_template(to, template_id, params, reference)

    def send_template(
        self, to: str, template_id: str, params: dict, reference: str | None = None
    ) -> SendResult:
        """Sends one approved template; each provider's own call."""
        raise NotImplementedError

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
        """Asks the provider for the message it took for `to` since `since`,
        matched on our reference (else on the template's text); raises SmsError
        when the provider cannot be asked or cannot tell yet."""
        text = None
        template = self.templates.templates.get(kind or "")
        if template is not None and template.text:
            _id, params = self.templates.request_for(kind, variables or {})
            text = provider_text(template.text, params, self.provider, self.sign_name)
        return self.query_sent(to, since, reference, text)

    def query_sent(
        self, to: str, since: datetime, reference: str | None, text: str | None
    ) -> SendResult | None:
        """Each provider's own query for one sent message."""
        raise NotImplementedError


def provider_text(text: str, params: Mapping[str, str], provider: str, sign: str):
    """Returns an approved template's text as the provider sends it, filled in."""
    values = list(params.values())
    if provider == "aliyun":
        filled = ALIYUN_VARIABLE.sub(lambda m: str(params.get(m.group(1), "")), text)
    else:
        filled = TENCENT_VARIABLE.sub(
            lambda m: (
                values[int(m.group(1)) - 1]
                if 0 < int(m.group(1)) <= len(values)
                else ""
            ),
            text,
        )
    return f"【{sign}】{filled}" if sign else filled


def _network_error(provider: str, exc: BaseException, text: str) -> SmsError:
    """Returns the error for a failed request: ambiguous unless it never left us."""
    if never_connected(text):
        return TransientSmsError(f"could not reach {provider}: {text}")
    return AmbiguousSmsError(f"{provider} did not answer: {text}")


def _provider_dates(since: datetime, now: datetime) -> list[str]:
    """Returns the provider's dates (yyyyMMdd, China time) from since to now."""
    first = since.astimezone(PROVIDER_ZONE).date()
    last = now.astimezone(PROVIDER_ZONE).date()
    days = min((last - first).days, 29)
    return [(last - timedelta(days=d)).strftime("%Y%m%d") for d in range(days + 1)]


class AliyunBackend(TemplateBackend):
    """Sends approved templates through Alibaba Cloud SMS (dysmsapi 2017-05-25)."""

    name = "aliyun"
    provider = "aliyun"

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        sign_name: str,
        templates: ProviderTemplates,
        endpoint: str = "",
        timeout: float = 10.0,
    ) -> None:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.models import Config

        protocol, host = split_endpoint(endpoint, ALIYUN_ENDPOINT)
        config = Config(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            endpoint=host,
            protocol=protocol,
            read_timeout=int(timeout * 1000),
            connect_timeout=int(timeout * 1000),
        )
        self.client = Client(config)
        self.sign_name = sign_name
        self.templates = templates

    def send_template(
        self, to: str, template_id: str, params: dict, reference: str | None = None
    ) -> SendResult:
        """Calls SendSms with one approved template, our reference as OutId;
        raises Transient, Permanent or AmbiguousSmsError."""
        from alibabacloud_dysmsapi20170525 import models

        request = models.SendSmsRequest(
            phone_numbers=national_number(to),
            sign_name=self.sign_name,
            template_code=template_id,
            template_param=json.dumps(params, ensure_ascii=False) if params else None,
            out_id=reference,
        )
        response = self._call("send_sms_with_options", request)
        result = response.body
        if result is None:
            raise AmbiguousSmsError("Alibaba Cloud answered without a body")
        if result.code != "OK":
            raise classify_aliyun(str(result.code), str(result.message or ""))
        if not result.biz_id:
            raise AmbiguousSmsError("Alibaba Cloud's answer carried no BizId")
        return SendResult(provider_id=result.biz_id, status="accepted")

    def query_sent(
        self, to: str, since: datetime, reference: str | None, text: str | None
    ) -> SendResult | None:
        """Looks through QuerySendDetails for `to` on each day since `since` for
        a record with our OutId (or, without one, the same text)."""
        from alibabacloud_dysmsapi20170525 import models

        for day in _provider_dates(since, datetime.now(UTC)):
            for page in range(1, QUERY_PAGES + 1):
                request = models.QuerySendDetailsRequest(
                    phone_number=national_number(to),
                    send_date=day,
                    page_size=QUERY_PAGE,
                    current_page=page,
                )
                body = self._call("query_send_details_with_options", request).body
                if body is None or body.code != "OK":
                    code = str(body.code) if body is not None else "no body"
                    error = classify_aliyun(code, "QuerySendDetails failed")
                    raise TransientSmsError(str(error))
                records = []
                if body.sms_send_detail_dtos is not None:
                    records = body.sms_send_detail_dtos.sms_send_detail_dto or []
                for record in records:
                    if _is_ours(record.out_id, record.content, reference, text):
                        return SendResult(
                            provider_id=f"out:{reference}"[:64]
                            if reference
                            else f"aliyun:{day}:{record.send_date}"[:64],
                            status=ALIYUN_SEND_STATUS.get(
                                str(record.send_status), "accepted"
                            ),
                        )
                if len(records) < QUERY_PAGE:
                    break
        return None

    def _call(self, method: str, request: Any):
        """Calls one API with no automatic retry; classifies what goes wrong."""
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.runtime import RuntimeOptions

        try:
            return getattr(self.client, method)(
                request, RuntimeOptions(autoretry=False, max_attempts=0)
            )
        except AlibabaCloudException as exc:
            raise classify_aliyun(
                str(exc.code or ""), str(exc.message or exc), exc.status_code
            ) from exc
        except Exception as exc:  # the SDK wraps network failures in its own types
            raise _network_error("Alibaba Cloud", exc, str(exc)) from exc


#: QuerySendDetails' SendStatus: 1 waiting for the report, 2 failed, 3 delivered.
ALIYUN_SEND_STATUS = {"1": "accepted", "2": "undelivered", "3": "delivered"}


def _is_ours(
    found_reference: str | None,
    found_text: str | None,
    reference: str | None,
    text: str | None,
) -> bool:
    """Returns whether a provider's record is our message: by reference where
    either side has one, else by the whole text."""
    if reference and found_reference:
        return found_reference == reference
    if text and found_text:
        return " ".join(found_text.split()) == " ".join(text.split())
    return False


class TencentBackend(TemplateBackend):
    """Sends approved templates through Tencent Cloud SMS (SendSms 2021-01-11)."""

    name = "tencent"
    provider = "tencent"

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        *,
        app_id: str,
        sign_name: str,
        templates: ProviderTemplates,
        endpoint: str = "",
        region: str = TENCENT_REGION,
        timeout: float = 10.0,
    ) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111.sms_client import SmsClient

        protocol, host = split_endpoint(endpoint, TENCENT_ENDPOINT)
        http = HttpProfile(protocol=protocol, endpoint=host, reqTimeout=timeout)
        profile = ClientProfile(httpProfile=http)
        # One endpoint, no fallback to another region's: a send is never repeated.
        profile.disable_region_breaker = True
        self.client = SmsClient(
            credential.Credential(secret_id, secret_key), region, profile
        )
        self.app_id = app_id
        self.sign_name = sign_name
        self.templates = templates

    def send_template(
        self, to: str, template_id: str, params: dict, reference: str | None = None
    ) -> SendResult:
        """Calls SendSms with one approved template, our reference as
        SessionContext; raises Transient, Permanent or AmbiguousSmsError."""
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [_e164(to)]
        request.SmsSdkAppId = self.app_id
        request.SignName = self.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = list(params.values())
        if reference:
            request.SessionContext = reference
        response = self._call("SendSms", request)
        statuses = response.SendStatusSet or []
        if not statuses:
            raise AmbiguousSmsError("Tencent Cloud's answer carried no SendStatusSet")
        status = statuses[0]
        if status.Code != "Ok":
            raise classify_tencent(str(status.Code), str(status.Message or ""))
        if not status.SerialNo:
            raise AmbiguousSmsError("Tencent Cloud's answer carried no SerialNo")
        return SendResult(provider_id=status.SerialNo, status="accepted")

    def query_sent(
        self, to: str, since: datetime, reference: str | None, text: str | None
    ) -> SendResult | None:
        """Looks through PullSmsSendStatusByPhoneNumber's reports for `to` since
        `since` for our SessionContext. Tencent Cloud lists a message only once
        its delivery report has come, so none found is an answer only after
        REPORT_WAIT; before that the question stays open (AmbiguousSmsError)."""
        from tencentcloud.sms.v20210111 import models

        now = datetime.now(UTC)
        for page in range(QUERY_PAGES):
            request = models.PullSmsSendStatusByPhoneNumberRequest()
            request.BeginTime = int(since.timestamp())
            request.EndTime = int(now.timestamp())
            request.Offset = page * QUERY_PAGE
            request.Limit = QUERY_PAGE
            request.PhoneNumber = _e164(to)
            request.SmsSdkAppId = self.app_id
            response = self._call("PullSmsSendStatusByPhoneNumber", request)
            reports = response.PullSmsSendStatusSet or []
            for report in reports:
                if reference and report.SessionContext == reference:
                    delivered = str(report.ReportStatus).upper() == "SUCCESS"
                    return SendResult(
                        provider_id=str(report.SerialNo),
                        status="delivered" if delivered else "undelivered",
                    )
            if len(reports) < QUERY_PAGE:
                break
        if now - since < REPORT_WAIT:
            raise AmbiguousSmsError(
                "Tencent Cloud has no report of it yet; asking again later"
            )
        return None

    def _call(self, action: str, request: Any):
        """Calls one API action; classifies what goes wrong."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )

        try:
            return getattr(self.client, action)(request)
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "")
            text = str(exc.get_message() or "")
            if code == "ClientNetworkError":
                raise _network_error("Tencent Cloud", exc, text) from exc
            raise classify_tencent(code, text) from exc


#: How long Tencent Cloud may take to list a delivery report of a message it took.
REPORT_WAIT = timedelta(minutes=10)


def _e164(to: str) -> str:
    return to if to.startswith("+") else f"+86{to}"
