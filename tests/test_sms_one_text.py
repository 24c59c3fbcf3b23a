"""One source of truth for a message's words: the outbox row's kind and variables.
Our own texts (console, Twilio) render them; the domestic providers receive them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dispatch.messaging.backends import sms_segments
from dispatch.messaging.notify import (
    KINDS,
    Recipient,
    fit_variables,
    render_message,
    render_text,
)
from dispatch.messaging.templates import (
    ENUMERATED,
    MESSAGE_KINDS,
    is_safe_variable,
    variables_for,
)
from dispatch.models import OutboxMessage
from repair.db import db
from tests.factories import find_ticket

#: A value for every variable; the conditional ones take the value that shows
#: them (a duplicate names its original; the acceptance deadline differs from
#: the on-site one).
SAMPLES = {
    "number": "YG-20261126-0007",
    "urgency": "紧急返修",
    "place": "3栋2单元 2号梯（3110440300）",
    "category": "电梯",
    "problem": "电梯困人，卡在5楼",
    "due": "14:30",
    "on_site": "11-27 16:00",
    "resume": "11-27 09:30",
    "code": "K7M2Q9XD",
    "why": "重复",
    "original": "YG-20261126-0003",
    "contractor": "安居维保",
    "level": "督办",
    "clock": "到场",
    "who": "王师傅",
    "cause": "等待配件",
    "then": "上报社区",
    "ask": "立即跟进救援",
}
HOSTILE = "厨房水管爆了 打13912345678或021-55551234 看 http://evil.example/x www.a.cn"


def _shown(name: str, value: str, locale: str, text: str) -> bool:
    english = ENUMERATED.get(name, {}).get(value) if locale == "en" else None
    return value in text or (english is not None and english in text)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("kind", sorted(MESSAGE_KINDS))
def test_our_text_of_every_kind_says_each_of_its_variables(app, kind, locale):
    variables = {name: SAMPLES[name] for name in MESSAGE_KINDS[kind]}
    with app.test_request_context():
        # What does not fit two segments is cut in the variables themselves.
        variables, text = fit_variables(kind, variables, locale)
        assert text == render_text(kind, variables, locale)
    missing = [n for n, v in variables.items() if not _shown(n, v, locale, text)]
    assert missing == [], text
    assert sms_segments(text) <= 2, text


def test_no_variable_of_any_kind_carries_a_url_or_a_phone_number(app, resident):
    number = resident.report(description=HOSTILE, spot="找13800001234")
    context = {
        "who": "王师傅 13800000001",
        "clock_label": "到场",
        "why": "duplicate",
        "original": "YG-1",
    }
    with app.test_request_context():
        ticket = find_ticket(number)
        checked = 0
        for kind, (roles, names) in KINDS.items():
            for role in roles:
                recipient = Recipient(role, ticket.contractor_id, "+8613800000077")
                variables = variables_for(kind, ticket, context, recipient)
                assert set(variables) == set(names)
                unsafe = {n: v for n, v in variables.items() if not is_safe_variable(v)}
                assert unsafe == {}, (kind, role)
                checked += 1
        assert checked >= 19
        db.session.rollback()


def _rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_the_console_shows_what_the_rows_variables_render(app, client, resident, jobs):
    resident.report(description="楼道灯不亮了，晚上很黑", phone="13912345678")
    jobs.run_due()
    with app.test_request_context():
        rows = _rows()
        assert rows and {r.template for r in rows} >= {"dispatch"}
        for row in rows:
            assert row.body == render_text(row.template, row.variables, row.locale)
            for name, value in row.variables.items():
                assert _shown(name, value, row.locale, row.body), (name, row.body)
        offer = next(r for r in rows if r.template == "dispatch")
        # The row is the message: change its variables and the page says so.
        offer.variables = {**offer.variables, "place": "换过的位置"}
        db.session.commit()
        expected = render_message(offer)
    page = client.get("/outbox").get_data(as_text=True)
    assert "换过的位置" in page and expected.split("http")[0] in page


@pytest.fixture
def twilio_app(settings, fake_twilio):
    from repair import create_app

    settings.update(
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        TWILIO_FROM="+15005550006",
        TWILIO_API_BASE_URL=fake_twilio.base_url,
    )
    return create_app(settings)


def test_twilio_sends_the_text_the_rows_variables_render(
    app, twilio_app, entrance_code, fake_twilio
):
    from tests.actions import Jobs, ResidentActions

    client = twilio_app.test_client()
    ResidentActions(client, entrance_code).report(
        description="楼道灯不亮了，晚上很黑", phone="13912345678"
    )
    Jobs(twilio_app).run_due()
    with twilio_app.test_request_context():
        rows = [r for r in _rows() if r.provider_id]
        assert rows
        sent = {m["sid"]: m["body"] for m in fake_twilio.messages}
        for row in rows:
            text = render_text(row.template, row.variables, row.locale)
            assert sent[row.provider_id] == text
            assert all(v in text for v in row.variables.values())
