"""SMS through China's own providers: Alibaba Cloud and Tencent Cloud, by template."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from dispatch.messaging.backends import (
    PermanentSmsError,
    SendResult,
    SmsError,
    TransientSmsError,
)
from dispatch.messaging.templates import ProviderTemplates

log = logging.getLogger(__name__)

ALIYUN_ENDPOINT = "dysmsapi.aliyuncs.com"
TENCENT_ENDPOINT = "sms.tencentcloudapi.com"
TENCENT_REGION = "ap-guangzhou"

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

    def send(
        self,
        to: str,
        body: str,
        *,
        validity_seconds: int | None = None,
        status_callback: str | None = None,
        kind: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Sends the kind's template with its variables; raises an SmsError."""
        template_id, params = self.templates.request_for(kind, variables or {})
        return self.send_template(to, template_id, params)

    def send_template(self, to: str, template_id: str, params: dict) -> SendResult:
        """Sends one approved template; each provider's own call."""
        raise NotImplementedError


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

    def send_template(self, to: str, template_id: str, params: dict) -> SendResult:
        """Calls SendSms with one approved template; raises Transient or Permanent."""
        from alibabacloud_dysmsapi20170525 import models
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.runtime import RuntimeOptions

        request = models.SendSmsRequest(
            phone_numbers=national_number(to),
            sign_name=self.sign_name,
            template_code=template_id,
            template_param=json.dumps(params, ensure_ascii=False) if params else None,
        )
        try:
            response = self.client.send_sms_with_options(
                request, RuntimeOptions(autoretry=False, max_attempts=0)
            )
        except AlibabaCloudException as exc:
            raise classify_aliyun(
                str(exc.code or ""), str(exc.message or exc), exc.status_code
            ) from exc
        except Exception as exc:  # the SDK wraps network failures in its own types
            raise TransientSmsError(f"could not reach Alibaba Cloud: {exc}") from exc
        result = response.body
        if result is None:
            raise TransientSmsError("Alibaba Cloud answered without a body")
        if result.code != "OK":
            raise classify_aliyun(str(result.code), str(result.message or ""))
        if not result.biz_id:
            raise TransientSmsError("Alibaba Cloud's answer carried no BizId")
        return SendResult(provider_id=result.biz_id, status="accepted")


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
        http = HttpProfile(
            protocol=protocol, endpoint=host, reqTimeout=int(max(1, timeout))
        )
        profile = ClientProfile(httpProfile=http)
        # One endpoint, no fallback to another region's: a send is never repeated.
        profile.disable_region_breaker = True
        self.client = SmsClient(
            credential.Credential(secret_id, secret_key), region, profile
        )
        self.app_id = app_id
        self.sign_name = sign_name
        self.templates = templates

    def send_template(self, to: str, template_id: str, params: dict) -> SendResult:
        """Calls SendSms with one approved template; raises Transient or Permanent."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )
        from tencentcloud.sms.v20210111 import models

        request = models.SendSmsRequest()
        request.PhoneNumberSet = [to if to.startswith("+") else f"+86{to}"]
        request.SmsSdkAppId = self.app_id
        request.SignName = self.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = list(params.values())
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise classify_tencent(
                str(exc.get_code() or ""), str(exc.get_message() or "")
            ) from exc
        statuses = response.SendStatusSet or []
        if not statuses:
            raise TransientSmsError("Tencent Cloud's answer carried no SendStatusSet")
        status = statuses[0]
        if status.Code != "Ok":
            raise classify_tencent(str(status.Code), str(status.Message or ""))
        if not status.SerialNo:
            raise TransientSmsError("Tencent Cloud's answer carried no SerialNo")
        return SendResult(provider_id=status.SerialNo, status="accepted")
