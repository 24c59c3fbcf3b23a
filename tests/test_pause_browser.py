"""The pause in headless Chromium: the contractor asks on a phone, the officer
approves at a desktop, the resident reads why and until when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from repair.db import utcnow
from repair.i18n import local_time
from tests.actions import ContractorActions, officer_at_desk
from tests.factories import find_ticket

pytestmark = pytest.mark.browser

PRIMARY = "+8613800000001"


def test_contractor_asks_on_a_phone_and_the_officer_approves_at_a_desk(
    app, browser, live_server, officer, resident, phone, screenshot
):
    number = resident.report(description="2楼楼道灯不亮了", spot="2楼")
    with app.app_context():
        link = ContractorActions(None, PRIMARY).link()
        key = find_ticket(number).resident_key

    # The contractor, on a phone: accept, then ask to pause.
    phone.goto(live_server + link)
    phone.click("#accept")
    phone.wait_for_selector("#pause-details")
    phone.click("#pause-details summary")
    phone.select_option("#pause-reason-select", "parts")
    phone.fill("#pause-detail", "")
    phone.click("#request-pause")
    phone.wait_for_selector("#pause-errors")  # no detail: a clear message
    assert "请说明在等待什么" in phone.locator("#pause-errors").inner_text()
    screenshot(phone, "1-missing-detail")
    expected = local_time(utcnow() + timedelta(hours=20), "Asia/Shanghai")
    phone.fill("#pause-detail", "灯具型号特殊，配件明早到货")
    phone.fill("#pause-resume-at", expected.strftime("%Y-%m-%dT%H:%M"))
    screenshot(phone, "2-request-filled")
    phone.click("#request-pause")
    phone.wait_for_selector("#withdraw")
    assert "灯具型号特殊" in phone.locator("#pause-reason").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "3-requested")

    # The officer, at a desk: the request is on the ticket; approve it.
    context, desk = officer_at_desk(browser, live_server, wait_for="#sections")
    # The board says a pause waits for a decision: on the card, and counted.
    mark = desk.locator(f'[data-number="{number}"] .pause-requested')
    mark.wait_for()
    assert mark.inner_text() == "挂起待批"
    assert mark.is_visible()
    assert desk.locator("#pause-requests .count").inner_text() == "1"
    screenshot(desk, "4a-board-pause-to-approve")
    desk.goto(f"{live_server}/board/t/{number}")
    assert "灯具型号特殊" in desk.locator("#pause").inner_text()
    screenshot(desk, "4-officer-sees-request")
    desk.click("#approve-pause")
    desk.wait_for_selector("#resume-pause")
    assert "已批准挂起" in desk.content()
    screenshot(desk, "5-officer-approved")
    desk.goto(f"{live_server}/board")
    card = desk.locator(f'#section-paused [data-number="{number}"]')
    card.wait_for()
    assert "已挂起" in desk.locator("#title-paused").inner_text()
    assert desk.locator(".pause-requested").count() == 0
    assert desk.locator("#pause-requests").count() == 0
    screenshot(desk, "6-board-paused-section")
    context.close()

    # The contractor's page says the clock is paused, until when.
    phone.reload()
    phone.wait_for_selector("#resume")
    assert (
        expected.strftime("%m-%d %H:%M")
        in phone.locator("#countdown-paused").inner_text()
    )
    screenshot(phone, "7-paused")

    # The resident's tracking page: why and until when.
    phone.goto(f"{live_server}/t/{number}?k={key}")
    assert expected.strftime("%H:%M") in phone.locator("#paused-until").inner_text()
    assert "配件明早到货" in phone.locator("#pause-why").inner_text()
    assert phone.locator("#ticket-status").inner_text() == "已挂起"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "8-resident")
    english = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-US"
    )
    reader = english.new_page()
    reader.goto(f"{live_server}/t/{number}?k={key}&lang=en")
    assert reader.locator("#ticket-status").inner_text() == "Paused"
    screenshot(reader, "8b-resident-en")
    english.close()

    # The contractor goes on: the clock runs again.
    phone.goto(live_server + link)
    phone.click("#resume")
    phone.wait_for_selector("#countdown")
    screenshot(phone, "9-resumed")
