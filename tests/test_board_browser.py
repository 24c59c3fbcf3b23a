"""The officer's working day in headless Chromium, at desktop and tablet sizes."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Contractor
from tests.actions import officer_at_desk

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": (1280, 800), "tablet": (820, 1180)}


@pytest.fixture
def settings(settings):
    settings["BOARD_REFRESH_SECONDS"] = 1
    return settings


@pytest.mark.parametrize("device", VIEWPORTS)
def test_officer_triages_reassigns_and_files_for_a_caller(
    app, browser, live_server, officer, resident, screenshot, device
):
    width, height = VIEWPORTS[device]
    context, page = officer_at_desk(
        browser, live_server, wait_for="#section-triage", size=(width, height)
    )
    screenshot(page, f"{device}-1-empty-board")

    number = resident.report(description="电梯困人了，卡在5楼")
    # urgent by the classifier: in "urgent" at once, marked to confirm
    card = page.locator(f'#section-urgent [data-number="{number}"]')
    card.wait_for(timeout=10_000)  # appears without a reload
    screenshot(page, f"{device}-2-fresh-ticket")

    card.click()
    page.wait_for_url(re.compile(rf"/board/t/{number}$"))
    page.check("input[name=urgency][value=urgent]")
    page.select_option("#triage-category", "lift")
    page.click("#confirm-urgency")
    page.wait_for_selector(".flash-ok")
    assert "待确认" not in page.locator("#ticket-urgency").inner_text()
    with app.app_context():
        backup = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == "+8613800000002")
        )
    page.select_option("#assign-contractor", str(backup.id))
    page.click("#assign")
    page.wait_for_selector(".flash-ok")
    assert backup.name in page.locator("#ticket-contractor").inner_text()
    assert page.locator("#timeline li").count() >= 5
    screenshot(page, f"{device}-3-ticket")

    page.click("text=代居民报修")
    page.select_option("#entrance", index=1)
    page.fill("#description", "老人来电：2栋1单元门禁坏了")
    page.fill("#phone", "13700001111")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/board/t/YG-\d{8}-\d{4}$"))
    assert "2栋1单元门禁坏了" in page.content()
    screenshot(page, f"{device}-4-filed")

    page.goto(f"{live_server}/board")
    page.wait_for_selector(f'[data-number="{number}"]')
    screenshot(page, f"{device}-5-board")
    context.close()


def test_officer_finds_a_rejected_ticket_by_its_number(
    app, browser, live_server, officer, resident, screenshot
):
    rejected = resident.report(description="我家里的灯坏了")
    working = resident.report(description="楼道灯不亮")
    context, page = officer_at_desk(browser, live_server, size=(820, 1180))
    page.goto(f"{live_server}/board/t/{rejected}")
    page.fill("#reject-reason", "不属于公共区域")
    page.click("#reject")
    page.wait_for_selector(".flash-ok")

    page.goto(f"{live_server}/board")
    assert page.locator(f'[data-number="{rejected}"]').count() == 0
    page.fill("#q", rejected[-4:])
    page.click("#filters button[type=submit]")
    ended = page.locator(f'#section-ended [data-number="{rejected}"]')
    ended.wait_for()
    assert page.locator(f'[data-number="{working}"]').count() == 0
    assert "已关闭、不予受理或已合并" in page.locator("#section-ended h2").inner_text()
    screenshot(page, "found-rejected")

    page.select_option("#f-status", "dispatched")
    page.fill("#q", "")
    page.click("#filters button[type=submit]")
    page.locator(f'[data-number="{working}"]').wait_for()
    assert page.locator("#section-ended").count() == 0
    context.close()


def test_on_a_landscape_tablet_someone_trapped_heads_a_board_that_scrolls_as_a_page(
    app, browser, live_server, officer, resident, screenshot
):
    # An outside tester on a tablet (1024 x 768) found the trapped person's card
    # hidden: each column scrolled inside a page that scrolled too, and the
    # urgent column held reports falling due before it.
    for text in ("闻到很浓的煤气味", "水管爆了，到处是水", "配电箱冒烟了有焦味"):
        resident.report(description=text)
    trapped = resident.report(
        description="小孩的头卡在滑梯栏杆里出不来", spot="儿童乐园", danger="trapped"
    )
    context, page = officer_at_desk(
        browser, live_server, wait_for="#section-urgent", size=(1024, 768)
    )
    urgent = page.locator("#section-urgent")
    assert urgent.locator(".ticket-card").first.get_attribute("data-number") == trapped
    # no column scrolls on its own: every card is reached by scrolling the page
    columns = page.evaluate(
        """() => [...document.querySelectorAll('.board-section')].map(
            s => s.scrollHeight - s.clientHeight)"""
    )
    assert columns and max(columns) <= 1
    screenshot(page, "tablet-landscape-trapped-first")
    # a tall screen keeps the columns side by side, each scrolling on its own
    page.set_viewport_size({"width": 1440, "height": 1000})
    overflow = page.evaluate(
        "getComputedStyle(document.querySelector('#section-urgent')).overflowY"
    )
    assert overflow == "auto"
    context.close()


def test_a_filing_for_a_caller_survives_the_language_toggle(
    app, browser, live_server, officer, screenshot
):
    # Outside tester: with an elderly caller on the line, the officer tapped
    # English on a filled-in 帮办 form; after the warning, every field was empty.
    context, page = officer_at_desk(
        browser, live_server, "/board/new", size=(1366, 768)
    )
    page.select_option("#entrance", index=3)
    page.check("#file-danger input[value=none]")
    page.check("#file-urgency input[value=general]")
    page.fill("#spot", "3楼楼梯间")
    page.fill("#description", "刘奶奶来电：楼道灯不亮，晚上看不见台阶")
    page.select_option("#category", "lighting")
    page.fill("#phone", "13788889999")
    page.fill("#name", "刘奶奶")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("header .lang")
    page.wait_for_selector("html[lang=en]")
    assert asked == []
    assert page.input_value("#description") == "刘奶奶来电：楼道灯不亮，晚上看不见台阶"
    assert page.input_value("#spot") == "3楼楼梯间"
    assert page.input_value("#phone") == "13788889999"
    assert page.input_value("#category") == "lighting"
    assert page.locator("#entrance option:checked").evaluate("o => o.index") == 3
    assert page.is_checked("#file-urgency input[value=general]")
    screenshot(page, "filing-in-english")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/board/t/YG-\d{8}-\d{4}$"))
    page.goto(f"{live_server}/board/new")  # filed: the next form starts empty
    assert page.input_value("#description") == ""
    context.close()
