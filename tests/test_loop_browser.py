"""The repair loop off the happy path, in Chromium: every message leads where its
reader can act, every breach is on the board, no deadline shown is in the past."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch.models import OutboxMessage
from dispatch.sla.escalation import escalate_if_overdue
from repair.db import db
from repair.models import Contractor
from tests.actions import officer_at_desk
from tests.factories import find_ticket

pytestmark = pytest.mark.browser

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock
VIEWPORTS = {"desktop": (1440, 900), "tablet": (1024, 768), "phone": (390, 844)}


@pytest.fixture
def settings(settings):
    settings["BOARD_REFRESH_SECONDS"] = 1
    return settings


def _board(browser, live_server, size=(1440, 900)):
    return officer_at_desk(browser, live_server, wait_for="#section-triage", size=size)


def _newest(app, phone: str, template: str | None = None) -> OutboxMessage:
    with app.app_context():
        query = sa.select(OutboxMessage).where(OutboxMessage.to_phone == phone)
        if template:
            query = query.where(OutboxMessage.template == template)
        message = db.session.scalar(query.order_by(OutboxMessage.id.desc()).limit(1))
        assert message is not None, (phone, template)
        db.session.expunge(message)
        return message


def _path(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", body).group(1)


def _miss_the_contact_deadline(app, number: str) -> None:
    """Runs the contact clock's breach rung as at its deadline (no waiting)."""
    with app.app_context():
        ticket = find_ticket(number)
        due, ticket_id = ticket.contact_due_at, ticket.id
    with app.app_context():
        assert escalate_if_overdue(
            ticket_id, "contact", "breach", now=due + timedelta(seconds=1)
        )


def test_the_urgency_change_sms_opens_a_page_where_the_contractor_accepts(
    app, browser, live_server, officer, resident, phone, screenshot
):
    number = resident.report(description="2楼楼道灯不亮了")
    context, page = _board(browser, live_server)
    page.goto(f"{live_server}/board/t/{number}")
    page.check("input[name=urgency][value=urgent]")
    page.click("#confirm-urgency")
    page.wait_for_selector(".flash-ok")
    context.close()

    change = _newest(app, PRIMARY, "urgency_changed")
    assert "已改为紧急" in change.body
    phone.goto(live_server + _path(change.body))
    phone.click("#accept")
    phone.wait_for_selector("#actions >> text=到场")
    screenshot(phone, "accepted-after-the-change")
    with app.app_context():
        assert find_ticket(number).accepted_at is not None


def test_an_unaccepted_urgent_ticket_is_in_breached_with_the_count_and_the_sms(
    app, browser, live_server, officer, resident, screenshot
):
    with app.app_context():  # no backup: the job stays unanswered
        backup = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        )
        backup.is_active = False
        db.session.commit()
    calm = resident.report(description="2楼楼道灯不亮了")
    context, page = _board(browser, live_server)
    number = resident.report(description=URGENT_TEXT)
    # a new urgent ticket alerts the officer: the page title counts it
    page.wait_for_function("() => document.title.startsWith('(1)')", timeout=10_000)
    card = page.locator(f'#section-urgent [data-number="{number}"]')
    card.wait_for()
    assert "系统：紧急（待确认）" in card.inner_text()

    _miss_the_contact_deadline(app, number)
    alerts = _newest(app, "+8613800000009", "officer_breach")
    assert number in alerts.body
    page.locator(f'#section-breached [data-number="{number}"]').wait_for(timeout=10_000)
    breached = page.locator("#section-breached")
    assert breached.locator(".count").inner_text() == "1"
    assert breached.locator(".ticket-card").count() == 1
    assert page.locator(f'#section-triage [data-number="{number}"]').count() == 0
    assert page.locator(f'[data-number="{calm}"]').count() == 1
    screenshot(page, "breached")
    context.close()


def test_the_backups_deadline_is_in_the_future(
    app, browser, live_server, officer, resident, phone, screenshot
):
    number = resident.report(description=URGENT_TEXT)
    _miss_the_contact_deadline(app, number)
    offer = _newest(app, BACKUP, "dispatch")
    with app.app_context():
        ticket = find_ticket(number)
        contact_due = ticket.contact_due_at
        assert ticket.contractor.phone == BACKUP
    context, page = _board(browser, live_server)
    clock = page.locator(f'[data-number="{number}"] .card-foot .clock')
    due = clock.get_attribute("data-due")
    assert page.evaluate(f"new Date('{due}').getTime() > Date.now()")
    assert "还剩" in clock.inner_text()
    # in the breached column a green countdown comes with why the card is there
    why = page.locator(f'#section-breached [data-number="{number}"] .missed')
    assert why.is_visible() and why.inner_text().endswith("已升级处理")
    # and the backup's own window to accept, beside the triage deadline
    after = page.locator(f'[data-number="{number}"] .clock-next')
    assert after.get_attribute("data-clock") == "contact"
    assert "接单截止" in after.inner_text() and "还剩" in after.inner_text()
    screenshot(page, "backup-on-the-board")
    context.close()

    phone.goto(live_server + _path(offer.body))
    countdown = phone.locator("#countdown").inner_text()
    # The backup's half hour starts at the missed deadline, a half hour after the
    # report: within a second of it the page shows the hour whole ("1 小时 0 分").
    assert re.search(r"还剩 (?:\d+ 分 \d+ 秒|1 小时 0 分)", countdown), countdown
    assert contact_due.strftime("%M") in offer.body
    screenshot(phone, "backup-job-page")


def test_a_withdrawn_contractor_gets_an_sms_saying_why(
    app, browser, live_server, officer, resident, phone, screenshot
):
    number = resident.report(description="1楼大门关不上了")
    offer = _newest(app, PRIMARY, "dispatch")
    context, page = _board(browser, live_server)
    page.goto(f"{live_server}/board/t/{number}")
    page.fill("#reject-reason", "不属于公共区域")
    page.click("#reject")
    page.wait_for_selector(".flash-ok")
    context.close()

    withdrawn = _newest(app, PRIMARY)
    assert withdrawn.template == "job_moved" and "驳回" in withdrawn.body
    phone.goto(live_server + _path(withdrawn.body))
    assert phone.locator("#why").inner_text() == "此工单已被驳回"
    assert _path(withdrawn.body) == _path(offer.body)
    screenshot(phone, "withdrawn")


@pytest.mark.parametrize("device", VIEWPORTS)
def test_the_board_uses_the_width(
    app, browser, live_server, officer, resident, screenshot, device
):
    texts = [
        "电梯困人了，卡在5楼",
        "2楼楼道灯不亮了",
        "3楼楼梯间扶手松动，晃得厉害",
        "地下车库有积水",
        "消防栓箱门掉了",
    ]
    numbers = [resident.report(description=texts[i % 5]) for i in range(12)]
    context, page = _board(browser, live_server, VIEWPORTS[device])
    page.wait_for_selector(f'[data-number="{numbers[-1]}"]')
    width = VIEWPORTS[device][0]
    lefts = set(
        page.locator(".board-section").evaluate_all(
            "els => els.map(e => Math.round(e.getBoundingClientRect().x))"
        )
    )
    if width >= 1440:
        assert len(lefts) == 5  # the sections side by side
    # no ticket number is squeezed onto more than one line
    for box in page.locator(".card-number").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    ):
        assert box < 30
    for box in page.locator(".badges .status").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    ):
        assert box < 26  # badges never wrap inside
    screenshot(page, "board")
    page.goto(f"{live_server}/board/t/{numbers[0]}")
    screenshot(page, "ticket")
    page.goto(f"{live_server}/outbox")
    screenshot(page, "outbox")
    context.close()
