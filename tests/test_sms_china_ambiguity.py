"""A domestic send whose fate is unknown (a timeout, a crash mid-send) is asked
about through the provider's own query API before it is ever sent again:
Alibaba Cloud by OutId (QuerySendDetails), Tencent Cloud by SessionContext
(PullSmsSendStatusByPhoneNumber or a status report already pushed)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.messaging.domestic import REPORT_WAIT
from dispatch.messaging.outbox import (
    STUCK_AFTER,
    UNKNOWN,
    message_reference,
    recover_stuck_messages,
    sms_backend,
)
from dispatch.models import MessageStatus, OutboxMessage
from repair.db import db, utcnow
from tests.factories import find_ticket
from tests.fake_china_sms import FakeAliyunSms, FakeTencentSms

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "sms"
PRIMARY = "+8613800000001"
TOKEN = "callback-secret-7f3a"
START = "2026-11-22 02:00:00"
SEND = {"aliyun": "SendSms", "tencent": "SendSms"}
QUERY = {"aliyun": "QuerySendDetails", "tencent": "PullSmsSendStatusByPhoneNumber"}


@pytest.fixture(params=["aliyun", "tencent"])
def provider(request) -> str:
    return request.param


@pytest.fixture
def fake(provider):
    with FakeAliyunSms() if provider == "aliyun" else FakeTencentSms() as stand_in:
        yield stand_in


@pytest.fixture
def settings(settings, provider, fake):
    settings.update(
        SMS_BACKEND=provider,
        SMS_TEMPLATES=str(DEPLOY / f"{provider}.toml"),
        SMS_CALLBACK_TOKEN=TOKEN,
        SMS_TIMEOUT="0.3s",
    )
    if provider == "aliyun":
        settings.update(
            ALIYUN_ACCESS_KEY_ID=fake.access_key_id,
            ALIYUN_ACCESS_KEY_SECRET=fake.secret,
            ALIYUN_SMS_ENDPOINT=fake.endpoint,
        )
    else:
        settings.update(
            TENCENT_SECRET_ID=fake.secret_id,
            TENCENT_SECRET_KEY=fake.secret_key,
            TENCENT_SMS_APP_ID=fake.app_id,
            TENCENT_SMS_ENDPOINT=fake.endpoint,
        )
    return settings


@pytest.fixture
def clock():
    with freeze_time(START, tick=True) as frozen:
        yield frozen


def _offer() -> OutboxMessage:
    return db.session.scalar(
        sa.select(OutboxMessage).where(
            OutboxMessage.to_phone == PRIMARY, OutboxMessage.template == "dispatch"
        )
    )


def _taken(fake) -> list[dict]:
    """Returns the job offers the provider took for the contractor."""
    return [m for m in fake.messages if m["to"] in (PRIMARY, PRIMARY[3:])]


def _reference_at_provider(message: dict) -> str:
    return message.get("out_id") or message.get("session_context") or ""


def _assert_nothing_failed(number: str) -> None:
    ticket = find_ticket(number)
    assert ticket.contractor.phone == PRIMARY  # no hand-over to the backup
    assert "sms_failed" not in [e.action for e in ticket.events]


def test_a_timed_out_send_the_provider_took_is_found_and_not_sent_again(
    app, resident, jobs, clock, fake, provider
):
    fake.hang_next(SEND[provider], seconds=1.0, deliver=True)
    number = resident.report(description="楼道灯不亮了", spot="2楼")
    jobs.run_due()
    with app.app_context():
        offer = _offer()
        assert (offer.status, offer.provider_status) == ("pending", UNKNOWN)
        reference = message_reference(offer)
    [taken] = _taken(fake)
    assert _reference_at_provider(taken) == reference
    clock.tick(timedelta(minutes=1))
    jobs.run_due()  # the retry asks the provider first, and finds it
    with app.app_context():
        offer = _offer()
        assert offer.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        assert offer.sent_at is not None
        _assert_nothing_failed(number)
    assert len(_taken(fake)) == 1
    assert fake.actions.count(QUERY[provider]) >= 1
    assert fake.actions.count("SendSms") == 1


def test_a_send_that_never_reached_the_provider_goes_out_once(
    app, resident, jobs, clock, fake, provider
):
    fake.hang_next(SEND[provider], seconds=1.0, deliver=False)
    number = resident.report(description="楼道灯不亮了", spot="2楼")
    jobs.run_due()
    with app.app_context():
        assert _offer().provider_status == UNKNOWN
    assert _taken(fake) == []
    # Tencent Cloud lists a message only with its delivery report: until that
    # could have come, "not found" is no answer and nothing is sent.
    wait = REPORT_WAIT if provider == "tencent" else timedelta(0)
    clock.tick(wait + timedelta(minutes=1))
    for _ in range(3):
        jobs.run_due()
        clock.tick(timedelta(minutes=1))
    with app.app_context():
        offer = _offer()
        assert offer.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        _assert_nothing_failed(number)
    [taken] = _taken(fake)
    assert fake.actions.count("SendSms") == 2  # the lost one and this one
    assert fake.actions.index(QUERY[provider]) < len(fake.actions) - 1


def test_a_query_that_is_itself_ambiguous_leaves_the_message_pending(
    app, resident, jobs, clock, fake, provider
):
    fake.hang_next(SEND[provider], seconds=1.0, deliver=True)
    fake.hang_next(QUERY[provider], seconds=1.0)
    number = resident.report(description="楼道灯不亮了", spot="2楼")
    jobs.run_due()
    clock.tick(timedelta(minutes=1))
    jobs.run_due()  # the question times out too
    with app.app_context():
        offer = _offer()
        assert (offer.status, offer.provider_status) == ("pending", UNKNOWN)
        assert offer.next_attempt_at is not None
        _assert_nothing_failed(number)
    assert fake.actions.count("SendSms") == 1
    clock.tick(timedelta(minutes=2))
    jobs.run_due()  # the next recovery asks again, and finds it
    with app.app_context():
        assert _offer().status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        _assert_nothing_failed(number)
    assert len(_taken(fake)) == 1
    assert fake.actions.count("SendSms") == 1


def test_a_send_interrupted_after_the_provider_took_it_is_recorded_as_sent(
    app, resident, jobs, clock, fake, provider
):
    fake.fail_next("isp.SYSTEM_ERROR" if provider == "aliyun" else "InternalError")
    number = resident.report(description="楼道灯不亮了", spot="2楼")
    jobs.run_due()
    with app.app_context():
        offer = _offer()
        assert offer.status is MessageStatus.PENDING and offer.provider_status is None
        # The next attempt is claimed, sent, and the worker dies before it commits.
        offer.status, offer.attempts = MessageStatus.SENDING, 2
        db.session.commit()
        sms_backend().send(
            offer.to_phone,
            offer.body,
            kind=offer.template,
            variables=offer.variables,
            reference=message_reference(offer),
        )
        clock.tick(STUCK_AFTER + timedelta(minutes=1))
        assert recover_stuck_messages(utcnow()) == 1
    jobs.run_due()
    with app.app_context():
        assert _offer().status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        _assert_nothing_failed(number)
    assert len(_taken(fake)) == 1


def test_a_status_report_naming_our_reference_settles_a_timed_out_send(
    app, client, resident, jobs, clock, fake, provider
):
    fake.hang_next(SEND[provider], seconds=1.0, deliver=True)
    resident.report(description="楼道灯不亮了", spot="2楼")
    jobs.run_due()
    [taken] = _taken(fake)
    if provider == "aliyun":
        report = {
            "phone_number": PRIMARY[3:],
            "success": True,
            "err_code": "DELIVERED",
            "biz_id": taken["biz_id"],
            "out_id": taken["out_id"],
        }
    else:
        report = {
            "mobile": PRIMARY[3:],
            "nationcode": "86",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "sid": taken["serial"],
            "ext": taken["session_context"],
        }
    answer = client.post(f"/sms/{provider}/status?token={TOKEN}", json=[report])
    assert answer.status_code == 200
    with app.app_context():
        offer = _offer()
        assert offer.status is MessageStatus.DELIVERED
        assert offer.provider_id == (taken.get("biz_id") or taken.get("serial"))
    clock.tick(timedelta(minutes=1))
    jobs.run_due()
    assert fake.actions.count("SendSms") == 1
    assert QUERY[provider] not in fake.actions
