"""Alibaba Cloud and Tencent Cloud SMS: their real SDKs against local stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.messaging.backends import (
    PermanentSmsError,
    TransientSmsError,
    backend_from_settings,
)
from dispatch.messaging.domestic import AliyunBackend, TencentBackend
from dispatch.messaging.templates import load_templates
from tests.fake_china_sms import FakeAliyunSms, FakeTencentSms

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "sms"
CONTRACTOR = "+8613800138000"
DISPATCH_VARIABLES = {
    "number": "YG-20261126-0007",
    "urgency": "紧急",
    "place": "阳光花园3栋2单元东侧地下车库入口旁边的配电房门口",
    "due": "14:30",
    "code": "K7M2Q9XD",
}


@pytest.fixture
def fake_aliyun() -> Iterator[FakeAliyunSms]:
    with FakeAliyunSms() as fake:
        yield fake


@pytest.fixture
def fake_tencent() -> Iterator[FakeTencentSms]:
    with FakeTencentSms() as fake:
        yield fake


def aliyun(fake: FakeAliyunSms, secret: str | None = None) -> AliyunBackend:
    return AliyunBackend(
        fake.access_key_id,
        secret or fake.secret,
        sign_name="阳光花园物业",
        templates=load_templates(DEPLOY / "aliyun.toml", "aliyun"),
        endpoint=fake.endpoint,
    )


def tencent(fake: FakeTencentSms, secret_key: str | None = None) -> TencentBackend:
    return TencentBackend(
        fake.secret_id,
        secret_key or fake.secret_key,
        app_id=fake.app_id,
        sign_name="阳光花园物业",
        templates=load_templates(DEPLOY / "tencent.toml", "tencent"),
        endpoint=fake.endpoint,
    )


def test_aliyun_sends_the_template_with_named_variables_cut_to_35(fake_aliyun):
    result = aliyun(fake_aliyun).send(
        CONTRACTOR, "ignored body", kind="dispatch", variables=DISPATCH_VARIABLES
    )

    [message] = fake_aliyun.messages
    assert result.provider_id == message["biz_id"]
    assert message["to"] == "13800138000"
    assert message["sign_name"] == "阳光花园物业"
    assert message["template_code"] == "SMS_000000001"
    params = message["params"]
    assert params["number"] == "YG-20261126-0007"
    assert params["code"] == "K7M2Q9XD"
    assert len(params["place"]) <= 35
    assert len(DISPATCH_VARIABLES["place"]) <= 35 or params["place"].endswith("…")
    assert set(params) == {"number", "urgency", "place", "due", "code"}


def test_aliyun_place_longer_than_the_limit_is_cut_with_an_ellipsis(fake_aliyun):
    long_place = "阳光花园" + "三号楼二单元东侧地下车库" * 4
    aliyun(fake_aliyun).send(
        CONTRACTOR,
        "",
        kind="dispatch",
        variables={**DISPATCH_VARIABLES, "place": long_place},
    )

    place = fake_aliyun.messages[0]["params"]["place"]
    assert len(place) == 35 and place.endswith("…")
    assert place[:-1] == long_place[:34]


def test_aliyun_per_number_flow_control_is_transient(fake_aliyun):
    fake_aliyun.fail_next("isv.BUSINESS_LIMIT_CONTROL")

    with pytest.raises(TransientSmsError) as raised:
        aliyun(fake_aliyun).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "isv.BUSINESS_LIMIT_CONTROL"
    assert fake_aliyun.messages == []


@pytest.mark.parametrize(
    "code", ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT"]
)
def test_aliyun_invalid_or_blacklisted_is_permanent(fake_aliyun, code):
    fake_aliyun.fail_next(code)

    with pytest.raises(PermanentSmsError) as raised:
        aliyun(fake_aliyun).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == code


def test_aliyun_rejects_a_number_that_is_not_a_mobile(fake_aliyun):
    with pytest.raises(PermanentSmsError) as raised:
        aliyun(fake_aliyun).send(
            "+86138-0013", "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "isv.MOBILE_NUMBER_ILLEGAL"


def test_aliyun_wrong_secret_is_a_permanent_signature_error(fake_aliyun):
    with pytest.raises(PermanentSmsError) as raised:
        aliyun(fake_aliyun, secret="not-the-secret").send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "SignatureDoesNotMatch"
    assert raised.value.status == 400


def test_aliyun_server_outage_is_transient(fake_aliyun):
    fake_aliyun.fail_next("ServiceUnavailable", status=503)

    with pytest.raises(TransientSmsError):
        aliyun(fake_aliyun).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )


def test_aliyun_unreachable_is_transient(fake_aliyun):
    backend = aliyun(fake_aliyun)
    fake_aliyun.stop()

    with pytest.raises(TransientSmsError):
        backend.send(CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES)


def test_a_kind_without_an_approved_template_is_permanent(fake_aliyun, tmp_path):
    partial = tmp_path / "aliyun.toml"
    partial.write_text(
        'provider = "aliyun"\n[templates.job_moved]\n'
        'template_id = "SMS_1"\nparams = ["number"]\n',
        encoding="utf-8",
    )
    backend = aliyun(fake_aliyun)
    backend.templates = load_templates(partial, "aliyun")

    with pytest.raises(PermanentSmsError, match="no aliyun template"):
        backend.send(CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES)
    assert fake_aliyun.requests == []


def test_tencent_sends_the_template_with_ordered_parameters(fake_tencent):
    result = tencent(fake_tencent).send(
        CONTRACTOR, "ignored body", kind="dispatch", variables=DISPATCH_VARIABLES
    )

    [message] = fake_tencent.messages
    assert result.provider_id == message["serial"]
    assert message["to"] == CONTRACTOR
    assert message["template_id"] == "1000001"
    number, urgency, place, due, code = message["params"]
    assert (number, urgency, due, code) == (
        "YG-20261126-0007",
        "紧急",
        "14:30",
        "K7M2Q9XD",
    )
    assert len(place) == 20 and place.endswith("…")
    [request] = fake_tencent.requests
    assert request["headers"]["x-tc-action"] == "SendSms"
    assert request["headers"]["x-tc-version"] == "2021-01-11"


def test_tencent_daily_limit_per_number_is_transient(fake_tencent):
    fake_tencent.fail_next("LimitExceeded.PhoneNumberDailyLimit")

    with pytest.raises(TransientSmsError) as raised:
        tencent(fake_tencent).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "LimitExceeded.PhoneNumberDailyLimit"


def test_tencent_invalid_number_is_permanent(fake_tencent):
    with pytest.raises(PermanentSmsError) as raised:
        tencent(fake_tencent).send(
            "+86123", "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "InvalidParameterValue.IncorrectPhoneNumber"


def test_tencent_blacklisted_number_is_permanent(fake_tencent):
    fake_tencent.fail_next("FailedOperation.PhoneNumberInBlacklist")

    with pytest.raises(PermanentSmsError):
        tencent(fake_tencent).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )


def test_tencent_wrong_secret_is_a_permanent_signature_error(fake_tencent):
    with pytest.raises(PermanentSmsError) as raised:
        tencent(fake_tencent, secret_key="not-the-key").send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )

    assert raised.value.provider_code == "AuthFailure.SignatureFailure"
    assert fake_tencent.messages == []


def test_tencent_request_limit_error_is_transient(fake_tencent):
    fake_tencent.fail_next("RequestLimitExceeded", status=-1)

    with pytest.raises(TransientSmsError):
        tencent(fake_tencent).send(
            CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES
        )


def test_tencent_unreachable_is_transient(fake_tencent):
    backend = tencent(fake_tencent)
    fake_tencent.stop()

    with pytest.raises(TransientSmsError):
        backend.send(CONTRACTOR, "", kind="dispatch", variables=DISPATCH_VARIABLES)


def test_settings_choose_the_domestic_backends(fake_aliyun, fake_tencent):
    backend = backend_from_settings(
        {
            "SMS_BACKEND": "aliyun",
            "ALIYUN_ACCESS_KEY_ID": fake_aliyun.access_key_id,
            "ALIYUN_ACCESS_KEY_SECRET": fake_aliyun.secret,
            "ALIYUN_SMS_ENDPOINT": fake_aliyun.endpoint,
            "SMS_TEMPLATES": str(DEPLOY / "aliyun.toml"),
        }
    )
    assert isinstance(backend, AliyunBackend)
    assert backend.sign_name == "阳光花园物业"
    backend = backend_from_settings(
        {
            "SMS_BACKEND": "tencent",
            "TENCENT_SECRET_ID": fake_tencent.secret_id,
            "TENCENT_SECRET_KEY": fake_tencent.secret_key,
            "TENCENT_SMS_APP_ID": fake_tencent.app_id,
            "TENCENT_SMS_ENDPOINT": fake_tencent.endpoint,
            "SMS_TEMPLATES": str(DEPLOY / "tencent.toml"),
            "SMS_SIGN_NAME": "另一个签名",
        }
    )
    assert isinstance(backend, TencentBackend)
    assert backend.sign_name == "另一个签名"


def test_missing_domestic_settings_are_named():
    with pytest.raises(ValueError, match="TENCENT_SECRET_KEY.*SMS_TEMPLATES"):
        backend_from_settings({"SMS_BACKEND": "tencent", "TENCENT_SECRET_ID": "x"})
