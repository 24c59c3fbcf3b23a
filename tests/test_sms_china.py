"""China's providers end to end: template messages out, reports and replies back."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch.contractor.tokens import CODE_ALPHABET, CODE_LENGTH
from dispatch.messaging.templates import MESSAGE_KINDS
from dispatch.models import (
    Assignment,
    InboundSms,
    JobCode,
    MessageStatus,
    OutboxMessage,
)
from repair.db import db
from repair.models import TicketStatus
from tests.factories import find_ticket
from tests.fake_china_sms import FakeAliyunSms, FakeTencentSms

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "sms"
PRIMARY, BACKUP, OFFICER = "+8613800000001", "+8613800000002", "+8613800000009"
TOKEN = "callback-secret-7f3a"
_sequence = itertools.count(1)


@pytest.fixture
def fake_aliyun():
    with FakeAliyunSms() as fake:
        yield fake


@pytest.fixture
def settings(settings, fake_aliyun):
    settings.update(
        SMS_BACKEND="aliyun",
        ALIYUN_ACCESS_KEY_ID=fake_aliyun.access_key_id,
        ALIYUN_ACCESS_KEY_SECRET=fake_aliyun.secret,
        ALIYUN_SMS_ENDPOINT=fake_aliyun.endpoint,
        SMS_TEMPLATES=str(DEPLOY / "aliyun.toml"),
        SMS_CALLBACK_TOKEN=TOKEN,
    )
    return settings


@pytest.fixture
def number(resident, jobs) -> str:
    number = resident.report(description="楼道灯不亮", phone="13912345678")
    jobs.run_due()
    return number


def _offer(phone: str = PRIMARY) -> OutboxMessage:
    return db.session.scalar(
        sa.select(OutboxMessage)
        .where(OutboxMessage.to_phone == phone, OutboxMessage.template == "dispatch")
        .order_by(OutboxMessage.id.desc())
    )


def test_job_offer_goes_out_as_a_template_with_the_short_job_code(
    app, number, fake_aliyun
):
    with app.app_context():
        offer = _offer()
        assert offer.status is MessageStatus.SENT
        [message] = [m for m in fake_aliyun.messages if m["to"] == PRIMARY[3:]]
        assert offer.provider_id == message["biz_id"]
        assert message["template_code"] == "SMS_000000001"
        params = message["params"]
        assert params["number"] == number
        code = params["code"]
        assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
        job_code = db.session.get(JobCode, code)
        assert (
            db.session.get(Assignment, job_code.assignment_id).ticket.number == number
        )
        assert {name: offer.variables[name] for name in params} == params
        for value in params.values():
            assert "http" not in value and "138" not in value


def test_short_code_opens_the_job_typed_or_in_the_path(app, client, number):
    with app.app_context():
        code = _offer().variables["code"]
    typed = client.get(f"/j?code={code.lower()[:4]} {code.lower()[4:]}")
    assert typed.status_code == 302
    assert "/j/" in typed.headers["Location"]
    page = client.get(typed.headers["Location"])
    assert page.status_code == 200 and number in page.get_data(as_text=True)
    assert client.get(f"/j/{code}").headers["Location"] == typed.headers["Location"]
    assert client.get("/j").status_code == 200
    assert client.get("/j?code=ZZZZZZZZ").status_code == 404


def test_every_kind_we_send_has_an_approved_template(app):
    from dispatch.messaging.templates import load_templates

    for provider in ("aliyun", "tencent"):
        templates = load_templates(DEPLOY / f"{provider}.toml", provider)
        assert set(templates.templates) == set(MESSAGE_KINDS)


def _post_status(client, items, token=TOKEN, provider="aliyun"):
    suffix = f"?token={token}" if token is not None else ""
    return client.post(f"/sms/{provider}/status{suffix}", json=items)


def _aliyun_report(biz_id: str, success: bool, code: str = "DELIVERED") -> dict:
    return {
        "phone_number": "13800000001",
        "send_time": "2026-11-26 10:00:00",
        "report_time": "2026-11-26 10:00:05",
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "失败",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": "",
    }


def test_status_callback_without_the_right_token_is_refused(app, client, number):
    with app.app_context():
        biz_id = _offer().provider_id
    report = [_aliyun_report(biz_id, True)]
    assert _post_status(client, report, token=None).status_code == 403
    assert _post_status(client, report, token="wrong").status_code == 403
    assert _post_status(client, report, provider="huawei").status_code == 404
    with app.app_context():
        assert _offer().status is MessageStatus.SENT


def test_aliyun_delivery_report_is_recorded(app, client, number):
    with app.app_context():
        biz_id = _offer().provider_id
    response = _post_status(client, [_aliyun_report(biz_id, True)])
    assert response.status_code == 200
    assert response.get_json() == {"code": 0, "msg": "成功"}
    with app.app_context():
        assert _offer().status is MessageStatus.DELIVERED


def test_undelivered_urgent_offer_goes_to_the_backup_and_the_officer_hears(
    app, client, resident, jobs
):
    number = resident.report(description="电梯困人了")
    jobs.run_due()
    with app.app_context():
        biz_id = _offer().provider_id
    report = [_aliyun_report(biz_id, False, "MK:0001")]
    _post_status(client, report)
    _post_status(client, report)  # pushed twice: handled once
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        assert [e.action for e in ticket.events].count("sms_failed") == 1
        offer = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.provider_id == biz_id)
        )
        assert offer.status is MessageStatus.UNDELIVERED
        assert "Alibaba Cloud error MK:0001" in offer.error_message
        alert = db.session.scalar(
            sa.select(OutboxMessage).where(
                OutboxMessage.to_phone == OFFICER,
                OutboxMessage.template == "officer_sms_failed",
            )
        )
        assert alert is not None
        assert set(alert.variables) == {"number", "who"}


def _aliyun_reply(client, body: str, token=TOKEN, sequence=None):
    item = {
        "phone_number": "13800000001",
        "send_time": "2026-11-26 10:01:00",
        "content": body,
        "sign_name": "阳光花园物业",
        "dest_code": "",
        "sequence_id": sequence or next(_sequence),
    }
    suffix = f"?token={token}" if token is not None else ""
    return client.post(f"/sms/aliyun/inbound{suffix}", json=[item])


def test_contractor_replies_1_through_aliyun_and_accepts(app, client, number):
    assert _aliyun_reply(client, "1", token="nope").status_code == 403
    response = _aliyun_reply(client, "1", sequence=4242)
    assert response.status_code == 200
    _aliyun_reply(client, "1", sequence=4242)  # the same push again
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ACCEPTED
        accept = next(e for e in ticket.events if e.action == "accept")
        assert accept.channel.value == "sms"
        assert db.session.scalar(sa.select(sa.func.count(InboundSms.id))) == 1
        reply = db.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.to_phone == PRIMARY)
            .order_by(OutboxMessage.id.desc())
        )
        assert reply.template == "reply_accepted"
        assert reply.variables["number"] == number


@pytest.fixture
def fake_tencent():
    with FakeTencentSms() as fake:
        yield fake


@pytest.fixture
def tencent_app(settings, fake_tencent):
    from repair import create_app

    settings.update(
        SMS_BACKEND="tencent",
        TENCENT_SECRET_ID=fake_tencent.secret_id,
        TENCENT_SECRET_KEY=fake_tencent.secret_key,
        TENCENT_SMS_APP_ID=fake_tencent.app_id,
        TENCENT_SMS_ENDPOINT=fake_tencent.endpoint,
        SMS_TEMPLATES=str(DEPLOY / "tencent.toml"),
    )
    return create_app(settings)


def test_tencent_reply_2_declines_and_the_backup_is_delivered(
    app, tencent_app, entrance_code, fake_tencent
):
    client = tencent_app.test_client()
    from tests.actions import Jobs, ResidentActions

    number = ResidentActions(client, entrance_code).report(
        description="楼道灯不亮", phone="13912345678"
    )
    Jobs(tencent_app).run_due()
    with tencent_app.app_context():
        offer = _offer()
        assert offer.status is MessageStatus.SENT
        assert offer.provider_id == fake_tencent.messages[0]["serial"]
    reply = {
        "extend": "",
        "mobile": "13800000001",
        "nationcode": "86",
        "sign": "阳光花园物业",
        "text": "2",
        "time": 1795600000,
    }
    response = client.post(f"/sms/tencent/inbound?token={TOKEN}", json=reply)
    assert response.get_json() == {"result": 0, "errmsg": "OK"}
    client.post(f"/sms/tencent/inbound?token={TOKEN}", json=reply)
    Jobs(tencent_app).run_due()
    with tencent_app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        assert [e.action for e in ticket.events].count("decline") == 1
    with tencent_app.app_context():
        serial = _offer(BACKUP).provider_id
    report = [
        {
            "user_receive_time": "2026-11-26 10:02:00",
            "nationcode": "86",
            "mobile": "13800000002",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": serial,
        }
    ]
    assert _post_status(client, report, provider="tencent").status_code == 200
    with tencent_app.app_context():
        assert _offer(BACKUP).status is MessageStatus.DELIVERED


def test_flow_control_is_retried_with_back_off_and_sent_once(
    app, resident, jobs, fake_aliyun
):
    from datetime import timedelta

    from freezegun import freeze_time

    from dispatch.messaging.outbox import BACKOFF

    fake_aliyun.fail_next("isv.BUSINESS_LIMIT_CONTROL")
    resident.report(description="楼道灯不亮")
    jobs.run_due()
    with app.app_context():
        offer = _offer()
        assert offer.status is MessageStatus.PENDING
        assert offer.attempts == 1
        assert "isv.BUSINESS_LIMIT_CONTROL" in offer.error_message
        retry_at = offer.next_attempt_at
        assert retry_at - offer.updated_at == BACKOFF[0]
    jobs.run_due()  # not yet due: nothing is sent
    assert [m for m in fake_aliyun.messages if m["to"] == PRIMARY[3:]] == []

    with freeze_time(retry_at + timedelta(seconds=1)):
        jobs.run_due()
        jobs.run_due()

    with app.app_context():
        offer = _offer()
        assert (offer.status, offer.attempts) == (MessageStatus.SENT, 2)
    assert len([m for m in fake_aliyun.messages if m["to"] == PRIMARY[3:]]) == 1
