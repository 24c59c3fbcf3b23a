"""A 12345 hotline ticket on the officer's board, in Chromium: the hotline's
deadline is the one shown when it is the earlier, and its breach is on the board."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from repair.db import utcnow
from tests.test_hotline import hotline, order, push  # noqa: F401 (fixture)
from tests.test_hotline_clock import _confirm_general
from tests.test_loop_browser import _board

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("hotline")
def test_officer_sees_the_hotline_deadline_on_the_board(
    app, client, browser, live_server, officer, screenshot
):
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()
    tonight = push(
        client, order(number="GD-TONIGHT", processlimited=today.isoformat())
    ).get_json()["ticket"]
    yesterday = (today - timedelta(days=1)).isoformat()
    missed = push(
        client,
        order(number="GD-MISSED", place="阳光花园3栋1单元", processlimited=yesterday),
    ).get_json()["ticket"]
    _confirm_general(app, tonight)

    context, page = _board(browser, live_server)
    card = page.locator(f'article[data-number="{tonight}"]')
    assert card.locator('[data-clock="hotline"]').count() == 1
    assert "热线办结时限" in card.inner_text()
    late = page.locator(f'#section-breached article[data-number="{missed}"]')
    assert late.count() == 1 and "热线办结时限" in late.inner_text()
    screenshot(page, "board")

    page.goto(f"{live_server}/board/t/{tonight}")
    assert page.locator("#hotline-due").count() == 1
    assert "(热线办结时限)" in page.inner_text("body")
    screenshot(page, "ticket")
    context.close()
