"""Twilio's webhooks: contractors reply by SMS; delivery reports come back."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from dispatch.models import InboundSms, OutboxMessage, SmsOptOut
from repair.db import db
from repair.models import TicketStatus
from tests.conftest import PUBLIC_URL
from tests.factories import find_ticket

PRIMARY, BACKUP, OFFICER = "+8613800000001", "+8613800000002", "+8613800000009"
_sids = itertools.count(1)


@pytest.fixture
def settings(twilio_settings):
    return twilio_settings


class Twilio:
    """Posts to our webhooks as Twilio would, signed with the account's token."""

    def __init__(self, client, token: str):
        self.client = client
        self.validator = RequestValidator(token)

    def post(self, path: str, params: dict, signature: str | None = "sign"):
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = self.validator.compute_signature(
                PUBLIC_URL + path, params
            )
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.client.post(path, data=params, headers=headers)

    def text(self, sender: str, body: str, sid: str | None = None):
        sid = sid or f"SM{next(_sids):032x}"
        params = {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}
        return self.post("/sms/inbound", params)


@pytest.fixture
def twilio(client, fake_twilio) -> Twilio:
    return Twilio(client, fake_twilio.auth_token)


@pytest.fixture
def number(resident, jobs) -> str:
    number = resident.report(description="楼道灯不亮", phone="13912345678")
    jobs.run_due()
    return number


def _bodies_to(phone: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.body)
            .where(OutboxMessage.to_phone == phone)
            .order_by(OutboxMessage.id)
        )
    )


def test_contractor_replies_1_to_accept_and_gets_a_confirmation(app, twilio, number):
    response = twilio.text(PRIMARY, "1")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ACCEPTED
        accept = next(e for e in ticket.events if e.action == "accept")
        assert accept.channel.value == "sms"
        assert "已接单" in _bodies_to(PRIMARY)[-1]


@pytest.mark.parametrize("word", ["接", "accept", "ACCEPT "])
def test_other_accept_words(app, twilio, number, word):
    twilio.text(PRIMARY, word)
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.ACCEPTED


def test_a_retried_webhook_and_a_second_reply_change_nothing(app, twilio, number):
    twilio.text(PRIMARY, "1", sid="SM" + "a" * 32)
    twilio.text(PRIMARY, "1", sid="SM" + "a" * 32)  # Twilio retried the webhook
    twilio.text(PRIMARY, "1")  # the contractor replied twice
    with app.app_context():
        ticket = find_ticket(number)
        assert [e.action for e in ticket.events].count("accept") == 1
        assert db.session.scalar(sa.select(sa.func.count(InboundSms.id))) == 2
        assert "无需重复回复" in _bodies_to(PRIMARY)[-1]


def test_contractor_replies_2_to_decline_and_the_backup_gets_it(app, twilio, number):
    twilio.text(PRIMARY, "拒")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        assert ticket.status is TicketStatus.DISPATCHED
        assert "已拒单" in _bodies_to(PRIMARY)[-1]
        assert "/j/" in _bodies_to(BACKUP)[-1]


def test_reply_from_a_number_with_no_open_job(app, twilio, number):
    twilio.text(BACKUP, "1")  # the backup has not been sent this job
    with app.app_context():
        assert "没有待接的工单" in _bodies_to(BACKUP)[-1]
        assert find_ticket(number).status is TicketStatus.DISPATCHED


def test_unknown_words_get_help(app, twilio, number):
    twilio.text(PRIMARY, "什么意思")
    with app.app_context():
        assert "回复1接单" in _bodies_to(PRIMARY)[-1]


def test_stop_is_respected_until_start(app, twilio, resident, jobs, fake_twilio):
    twilio.text(PRIMARY, "STOP")
    with app.app_context():
        assert db.session.get(SmsOptOut, PRIMARY) is not None
    number = resident.report(description="路灯不亮")
    jobs.run_due()
    assert not [m for m in fake_twilio.messages if m["to"] == PRIMARY]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP  # opted out = unreachable
        failed = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.to_phone == PRIMARY)
        )
        assert (failed.status, failed.error_code) == ("failed", 21610)
    twilio.text(PRIMARY, "START")
    with app.app_context():
        assert db.session.get(SmsOptOut, PRIMARY) is None


@pytest.mark.parametrize("signature", [None, "forged", ""])
def test_webhooks_without_a_valid_signature_are_refused(app, twilio, number, signature):
    params = {"MessageSid": "SM" + "b" * 32, "From": PRIMARY, "Body": "1"}
    assert twilio.post("/sms/inbound", params, signature=signature).status_code == 403
    status = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    assert twilio.post("/sms/status", status, signature=signature).status_code == 403
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.DISPATCHED


def test_signature_over_a_different_url_is_refused(app, twilio, number):
    params = {"MessageSid": "SM" + "c" * 32, "From": PRIMARY, "Body": "1"}
    wrong = twilio.validator.compute_signature(
        "http://elsewhere.test/sms/inbound", params
    )
    assert twilio.post("/sms/inbound", params, signature=wrong).status_code == 403


def test_delivery_reports_are_recorded_once(app, twilio, number, fake_twilio):
    with app.app_context():
        offer = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.to_phone == PRIMARY)
        )
        sid = offer.provider_id
    for status in ("sent", "delivered", "delivered", "sent"):
        params = fake_twilio.status_callback_params(sid, status)
        assert twilio.post("/sms/status", params).status_code == 204
    with app.app_context():
        offer = db.session.get(OutboxMessage, offer.id)
        assert (offer.status, offer.provider_status) == ("delivered", "delivered")


def test_undelivered_urgent_offer_goes_to_the_backup(
    app, twilio, resident, jobs, fake_twilio
):
    number = resident.report(description="电梯困人了")
    jobs.run_due()
    with app.app_context():
        sid = db.session.scalar(
            sa.select(OutboxMessage.provider_id).where(
                OutboxMessage.to_phone == PRIMARY
            )
        )
    params = fake_twilio.status_callback_params(sid, "undelivered", error_code=30003)
    twilio.post("/sms/status", params)
    twilio.post("/sms/status", params)  # reported twice: handled once
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        assert [e.action for e in ticket.events].count("sms_failed") == 1
        offer = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.provider_id == sid)
        )
        assert (offer.status, offer.error_code) == ("undelivered", 30003)
        assert any("未送达" in body for body in _bodies_to(OFFICER))


def test_a_signed_status_with_a_strange_error_code_is_recorded_without_an_error(
    app, twilio, number, fake_twilio
):
    with app.app_context():
        sid = db.session.scalar(
            sa.select(OutboxMessage.provider_id).where(
                OutboxMessage.to_phone == PRIMARY
            )
        )
    params = fake_twilio.status_callback_params(sid, "failed")
    params["ErrorCode"] = "²"  # str.isdigit() says yes, int() says no
    assert twilio.post("/sms/status", params).status_code == 204
    with app.app_context():
        offer = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.provider_id == sid)
        )
        assert (offer.status, offer.error_code) == ("failed", None)
