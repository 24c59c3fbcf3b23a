"""The follow-up call in headless Chromium: the officer, at a desk, finds the call
on the board (one overdue), reads the rating, reveals the number, records a call
that did not reach the resident and then one that did."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch.models import FollowUpTask
from repair.db import db, utcnow
from tests.actions import officer_at_desk
from tests.factories import find_ticket
from tests.test_follow_up import Resident, _repair

pytestmark = pytest.mark.browser


def _rated(app, client, resident, floor: int, stars: int, comment: str) -> str:
    number = resident.report(
        description=f"{floor}楼楼梯扶手松动", spot=f"{floor}楼", phone="13912345678"
    )
    _repair(app, client, number)
    someone = Resident(client, number)
    assert someone.confirm().status_code == 303
    assert someone.rate(stars, comment).status_code == 303
    return number


def test_officer_calls_back_a_resident_who_rated_low(
    app, client, browser, live_server, officer, resident, screenshot
):
    number = _rated(app, client, resident, 3, 1, "师傅来了只看了一眼就走了，扶手还是晃")
    late = _rated(app, client, resident, 5, 2, "等了三天")
    with app.app_context():
        ticket = find_ticket(late)
        task = db.session.scalar(
            sa.select(FollowUpTask).where(FollowUpTask.ticket_id == ticket.id)
        )
        task.due_at = utcnow() - timedelta(minutes=40)  # its day has passed
        db.session.commit()

    context, desk = officer_at_desk(browser, live_server, wait_for="#section-follow-up")
    section = desk.locator("#section-follow-up")
    title = desk.locator("#title-follow-up").inner_text()
    assert "待回访" in title and "2" in title  # two open, one of them overdue
    assert section.locator(f'[data-number="{number}"]').count() == 1
    overdue = section.locator(f'[data-number="{late}"]')
    assert "已逾期" in overdue.inner_text()
    assert "已超时" in overdue.locator(".countdown").inner_text()
    assert "还剩 23 小时" in section.locator(f'[data-number="{number}"]').inner_text()
    section.scroll_into_view_if_needed()
    screenshot(desk, "1-board")

    section.locator(f'[data-number="{number}"] a').click()
    desk.wait_for_selector("#follow-up-form")
    box = desk.locator("#follow-up")
    assert "扶手还是晃" in box.inner_text() and "评分 1 星" in box.inner_text()
    assert "139****5678" in box.inner_text()
    screenshot(desk, "2-ticket")

    desk.click("#follow-up-reveal button")
    desk.wait_for_selector("#follow-up-phone a[href^='tel:']")
    assert "+8613912345678" in desk.locator("#follow-up-phone").inner_text()
    screenshot(desk, "3-number-shown")

    desk.check("#follow-up-reached-yes")
    desk.click("#follow-up-record")
    desk.wait_for_selector("#follow-up-errors")
    assert "请选择回访结果" in desk.locator("#follow-up-errors").inner_text()
    screenshot(desk, "4-outcome-missing")

    desk.check("#follow-up-reached-no")
    desk.fill("#follow-up-note", "无人接听，明早再打")
    desk.click("#follow-up-record")
    desk.wait_for_selector("#follow-up-attempts")
    assert "已拨打 1 次" in desk.locator("#follow-up-attempts").inner_text()
    assert "本次拨打" in desk.content()
    screenshot(desk, "5-not-reached")

    desk.check("#follow-up-reached-yes")
    desk.select_option("#follow-up-outcome", "rework")
    desk.fill("#follow-up-note", "居民说扶手仍晃，已约维保单位明天再来")
    desk.click("#follow-up-record")
    desk.wait_for_selector("#follow-up-outcome-done")
    done = desk.locator("#follow-up").inner_text()
    assert "仍需维修" in done and "按时" in done and "共拨打 2 次" in done
    assert "已回访: 仍需维修" in desk.locator("#timeline").inner_text()
    assert desk.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(desk, "6-done")

    desk.goto(f"{live_server}/board")
    desk.wait_for_selector("#section-follow-up")
    assert desk.locator(f'#section-follow-up [data-number="{number}"]').count() == 0
    desk.goto(f"{live_server}/board/stats")
    figures = desk.locator("#follow-up-calls")
    assert "1" in figures.locator("#follow-up-on-time").inner_text()
    assert "1" in figures.locator("#follow-up-overdue").inner_text()
    figures.scroll_into_view_if_needed()
    screenshot(desk, "7-stats")
    context.close()
