"""The SMS backends: the real Twilio SDK against a local stand-in for Twilio."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from dispatch.messaging.backends import (
    ConsoleBackend,
    PermanentSmsError,
    TransientSmsError,
    TwilioBackend,
    backend_from_settings,
    sms_segments,
)
from tests.fake_twilio import FakeTwilio

SENDER = "+15005550006"
CONTRACTOR = "+8613800138000"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """Returns a running local Twilio Messages API."""
    with FakeTwilio() as fake:
        yield fake


def twilio_backend(fake: FakeTwilio, **overrides: object) -> TwilioBackend:
    """Returns a TwilioBackend pointed at the fake, sending from SENDER."""
    options: dict = {"from_": SENDER, "api_base_url": fake.base_url, **overrides}
    return TwilioBackend(fake.account_sid, fake.auth_token, **options)


def test_message_is_sent_and_twilio_sid_is_returned(fake_twilio):
    result = twilio_backend(fake_twilio).send(CONTRACTOR, "RD-1042 burst pipe")

    [message] = fake_twilio.messages
    assert result.provider_id == message["sid"]
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert result.status == "queued"
    [request] = fake_twilio.requests
    assert request["path"] == (
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    )
    assert request["auth"] == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request["form"] == {
        "To": CONTRACTOR,
        "From": SENDER,
        "Body": "RD-1042 burst pipe",
    }


def test_urgent_message_carries_validity_period_and_status_callback(fake_twilio):
    twilio_backend(fake_twilio).send(
        CONTRACTOR,
        "URGENT RD-7",
        validity_seconds=900,
        status_callback="https://repair.example/sms/status",
    )

    form = fake_twilio.requests[0]["form"]
    assert form["ValidityPeriod"] == "900"
    assert form["StatusCallback"] == "https://repair.example/sms/status"


def test_messaging_service_is_used_instead_of_a_from_number(fake_twilio):
    backend = twilio_backend(
        fake_twilio, from_="", messaging_service_sid="MG" + "1" * 32
    )

    result = backend.send(CONTRACTOR, "RD-8")

    form = fake_twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form
    assert result.status == "accepted"


def test_chinese_and_emoji_text_arrives_intact(fake_twilio):
    body = "工单 RD-9：3号楼漏水 🚰 请尽快处理"

    twilio_backend(fake_twilio).send(CONTRACTOR, body)

    assert fake_twilio.messages[0]["body"] == body


def test_server_error_is_transient_and_the_retry_succeeds(fake_twilio):
    backend = twilio_backend(fake_twilio)
    fake_twilio.fail_next(status=500)

    with pytest.raises(TransientSmsError) as failure:
        backend.send(CONTRACTOR, "RD-10")
    result = backend.send(CONTRACTOR, "RD-10")

    assert failure.value.status == 500
    assert failure.value.code == 20500
    assert result.provider_id == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.requests) == 2


def test_gateway_error_page_without_json_is_transient(fake_twilio):
    fake_twilio.fail_next(status=502, raw_body="<html>Bad Gateway</html>")

    with pytest.raises(TransientSmsError) as failure:
        twilio_backend(fake_twilio).send(CONTRACTOR, "RD-11")

    assert failure.value.status == 502
    assert failure.value.code is None


def test_rate_limit_is_a_transient_failure(fake_twilio):
    fake_twilio.fail_next(status=429, code=20429)

    with pytest.raises(TransientSmsError) as failure:
        twilio_backend(fake_twilio).send(CONTRACTOR, "RD-12")

    assert (failure.value.status, failure.value.code) == (429, 20429)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (21211, "The 'To' number +86123 is not a valid phone number."),
        (21610, "Attempt to send to unsubscribed recipient"),
        (21614, "'To' number is not a valid mobile number"),
        (21635, "The 'To' number cannot be reached"),
    ],
)
def test_undeliverable_number_is_a_permanent_failure(fake_twilio, code, message):
    fake_twilio.fail_next(status=400, code=code, message=message)

    with pytest.raises(PermanentSmsError) as failure:
        twilio_backend(fake_twilio).send(CONTRACTOR, "RD-13")

    assert failure.value.code == code
    assert failure.value.status == 400
    assert message in failure.value.message


def test_invalid_number_is_a_permanent_failure(fake_twilio):
    fake_twilio.fail_next(
        status=400,
        code=21211,
        message="The 'To' number 12345 is not a valid phone number.",
    )

    with pytest.raises(PermanentSmsError) as failure:
        twilio_backend(fake_twilio).send("12345", "RD-14")

    assert failure.value.code == 21211
    assert "21211" in str(failure.value)


def test_unlisted_client_error_is_permanent_too(fake_twilio):
    fake_twilio.fail_next(status=400, code=21999, message="Something new")

    with pytest.raises(PermanentSmsError) as failure:
        twilio_backend(fake_twilio).send(CONTRACTOR, "RD-15")

    assert failure.value.code == 21999


def test_bad_credentials_are_a_permanent_failure(fake_twilio):
    backend = TwilioBackend(
        fake_twilio.account_sid,
        "wrong-token",
        from_=SENDER,
        api_base_url=fake_twilio.base_url,
    )

    with pytest.raises(PermanentSmsError) as failure:
        backend.send(CONTRACTOR, "RD-16")

    assert (failure.value.status, failure.value.code) == (401, 20003)
    assert fake_twilio.messages == []


def test_twilio_being_down_is_a_quick_transient_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    backend = TwilioBackend(
        "AC" + "0" * 32,
        "token",
        from_=SENDER,
        api_base_url=f"http://127.0.0.1:{closed_port}",
        timeout=1.0,
    )

    started = time.monotonic()
    with pytest.raises(TransientSmsError):
        backend.send(CONTRACTOR, "RD-17")

    assert time.monotonic() - started < 2.0


def test_twilio_that_never_answers_times_out_as_a_transient_failure():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        backend = TwilioBackend(
            "AC" + "0" * 32,
            "token",
            from_=SENDER,
            api_base_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            timeout=0.3,
        )

        started = time.monotonic()
        with pytest.raises(TransientSmsError) as failure:
            backend.send(CONTRACTOR, "RD-18")
        elapsed = time.monotonic() - started

    assert "in time" in failure.value.message
    assert elapsed < 2.0


def test_console_backend_logs_the_message_and_sends_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="dispatch.messaging.backends"):
        result = ConsoleBackend().send(CONTRACTOR, "RD-19 leak", validity_seconds=60)

    assert result.provider_id.startswith("console-")
    assert len(result.provider_id) == len("console-") + 16
    assert result.status == "sent"
    assert "RD-19 leak" in caplog.text
    assert CONTRACTOR in caplog.text


def test_console_is_the_default_backend():
    assert backend_from_settings({}).name == "console"
    assert backend_from_settings({"SMS_BACKEND": "console"}).name == "console"


def test_twilio_settings_reach_the_configured_endpoint(fake_twilio):
    backend = backend_from_settings(
        {
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
            "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
            "TWILIO_FROM": SENDER,
            "TWILIO_MESSAGING_SERVICE_SID": "",
            "TWILIO_API_BASE_URL": fake_twilio.base_url,
        }
    )

    result = backend.send(CONTRACTOR, "RD-20")

    assert backend.name == "twilio"
    assert result.provider_id == fake_twilio.messages[0]["sid"]


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown SMS_BACKEND 'carrier-pigeon'"):
        backend_from_settings({"SMS_BACKEND": "carrier-pigeon"})


def test_twilio_without_credentials_is_refused():
    with pytest.raises(ValueError) as refusal:
        backend_from_settings({"SMS_BACKEND": "twilio", "TWILIO_FROM": SENDER})

    assert "TWILIO_ACCOUNT_SID" in str(refusal.value)
    assert "TWILIO_AUTH_TOKEN" in str(refusal.value)


def test_twilio_without_a_sender_is_refused():
    settings = {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "token",
    }

    with pytest.raises(ValueError, match="TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"):
        backend_from_settings(settings)


def test_malformed_api_base_url_is_refused():
    with pytest.raises(ValueError, match="TWILIO_API_BASE_URL"):
        TwilioBackend("AC1", "token", from_=SENDER, api_base_url="127.0.0.1:8080")


def test_plain_ascii_fills_160_then_153_per_segment():
    assert sms_segments("") == 0
    assert sms_segments("a") == 1
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("Grüße aus Zürich, ¿qué tal? £5 @ 10:00") == 1


def test_gsm_extension_characters_count_twice():
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("a" * 159 + "[") == 2
    # 306 septets would fit two parts, but an escape pair is never split.
    assert sms_segments("a" * 152 + "€" + "a" * 152) == 3


def test_chinese_text_fills_70_then_67_per_segment():
    assert sms_segments("漏" * 70) == 1
    assert sms_segments("漏" * 71) == 2
    assert sms_segments("漏" * 134) == 2
    assert sms_segments("漏" * 135) == 3
    assert sms_segments("a" * 69 + "漏") == 1


def test_emoji_count_as_two_ucs2_units():
    assert sms_segments("🚰" * 35) == 1
    assert sms_segments("🚰" * 36) == 2
    # 134 units would fit two parts, but a surrogate pair is never split.
    assert sms_segments("漏" * 66 + "🚰" + "漏" * 66) == 3


def test_fake_builds_the_status_callback_twilio_would_post(fake_twilio):
    result = twilio_backend(fake_twilio).send(CONTRACTOR, "RD-21")

    delivered = fake_twilio.status_callback_params(result.provider_id, "delivered")
    undelivered = fake_twilio.status_callback_params(
        result.provider_id, "undelivered", error_code=30003
    )

    assert delivered == {
        "AccountSid": fake_twilio.account_sid,
        "ApiVersion": "2010-04-01",
        "From": SENDER,
        "MessageSid": result.provider_id,
        "MessageStatus": "delivered",
        "SmsSid": result.provider_id,
        "SmsStatus": "delivered",
        "To": CONTRACTOR,
    }
    assert undelivered["ErrorCode"] == "30003"
    assert undelivered["MessageStatus"] == "undelivered"
