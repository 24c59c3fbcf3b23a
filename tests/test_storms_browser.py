"""A storm in headless Chromium: five residents report the same burst pipe on their
phones, the board proposes the group, the officer merges it at a desk, the
contractor hears once and completes once, and every reporter hears it is done."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dispatch.models import OutboxMessage
from repair.db import db
from tests.actions import ContractorActions, officer_at_desk
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.browser

PRIMARY = "+8613800000001"
REPORTS = [
    ("13900000010", "地下室水管爆裂，水喷出来了", (200, 60, 60)),
    ("13900000011", "地下室水管爆了，到处是水", (60, 60, 200)),
    ("13900000012", "楼下水管破了，水一直喷", (60, 160, 60)),
    ("13900000013", "地下室进水了，水管爆裂", (200, 160, 40)),
    ("13900000014", "水管爆裂，楼梯口都是水", (120, 60, 160)),
]


@pytest.fixture
def settings(settings):
    settings["STORM_WINDOW"] = "2h"
    return settings


def _phone(browser):
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )


def _outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        return db.session.scalars(
            sa.select(OutboxMessage).order_by(OutboxMessage.id)
        ).all()


def test_five_residents_one_burst_pipe_one_job_one_sms(
    app, browser, live_server, officer, entrance_code, jobs, screenshot, tmp_path
):
    residents = []
    for index, (number, words, color) in enumerate(REPORTS, start=1):
        context = _phone(browser)
        page = context.new_page()
        photo = tmp_path / f"pipe{index}.jpg"
        photo.write_bytes(jpeg_bytes(size=(1600, 1200), color=color))
        page.goto(f"{live_server}/q/{entrance_code}")
        page.set_input_files("#photo-library", str(photo))
        page.fill("#spot", "地下室")
        page.fill("#description", words)
        page.fill("#phone", number)
        page.click("#submit")
        page.wait_for_url(re.compile(r"/t/YG-\d{8}-\d{4}/received$"))
        ticket = re.search(r"/t/([^/]+)/received", page.url).group(1)
        if index == 2:
            # held: nothing was sent for it, and the page says so truthfully
            received = page.locator("main").inner_text()
            assert "正在短信通知" not in received and "不另行派单" in received
            screenshot(page, "0-held-report-received")
        page.click("#track-link")
        page.wait_for_load_state()
        assert page.locator("#ticket-number").inner_text() == ticket
        residents.append((context, page, ticket))
    parent = residents[0][2]
    jobs.run_due()  # the photos' display copies

    # Each later reporter has a number of their own, and reads that it is handled
    # together with the first report.
    last = residents[-1][1]
    last.reload()
    note = last.locator("#group-note").inner_text()
    assert parent in note and "合并处理" in note
    assert last.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(last, "1-resident-held-together")

    contractor_sms = [m for m in _outbox(app) if m.recipient_type == "contractor"]
    assert len(contractor_sms) == 1, [(m.template, m.body) for m in contractor_sms]

    # The officer, at a desk: the board proposes the group.
    context, desk = officer_at_desk(browser, live_server, wait_for="#section-groups")
    proposal = desk.locator(f'#section-groups [data-group="{parent}"]').inner_text()
    assert "5 份报修像是同一个问题" in proposal and "4 份待并单" in proposal
    assert desk.locator("#groups-waiting").inner_text() == "4"
    for _context, _page, ticket in residents[1:]:
        assert desk.locator(f'.ticket-card[data-number="{ticket}"]').count() == 0
    screenshot(desk, "2-board-proposes-group")

    desk.click(f'#section-groups [data-group="{parent}"] a')
    desk.wait_for_selector("#merge-group")
    assert desk.locator(".group-member").count() == 4
    screenshot(desk, "3-group-before-merge")
    desk.click("#merge-group")
    desk.wait_for_selector(".flash, .alert-ok")
    assert desk.locator("#merge-group").count() == 0
    timeline = desk.locator("#timeline").inner_text()
    for _number, words, _color in REPORTS[1:]:
        assert words in timeline  # each report's own words on the parent
    assert desk.locator("#timeline .thumbs img").count() == 4  # and its photo
    screenshot(desk, "4-merged-timeline")
    desk.goto(f"{live_server}/board")
    desk.wait_for_selector("#sections")
    assert desk.locator("#section-groups").count() == 0
    context.close()

    contractor_sms = [m for m in _outbox(app) if m.recipient_type == "contractor"]
    assert len(contractor_sms) == 1  # merging texts nobody

    # The contractor, on a phone: accept, arrive, complete, once.
    with app.app_context():
        link = ContractorActions(None, PRIMARY).link()
    contractor = _phone(browser)
    job = contractor.new_page()
    job.goto(live_server + link)
    group = job.locator("#job-group").inner_text()
    assert "同一问题共 5 份报修" in group
    for _number, words, _color in REPORTS[1:]:
        assert words in group  # what the neighbours saw, no phone numbers
    assert "1390000001" not in group
    assert job.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(job, "5-contractor-sees-the-group")
    job.click("#accept")
    job.wait_for_selector("#arrive")
    job.click("#arrive")
    job.wait_for_selector("#complete-form")
    done = tmp_path / "fixed.jpg"
    done.write_bytes(jpeg_bytes(size=(1600, 1200), color=(40, 160, 60)))
    job.set_input_files("#photo-camera", str(done))
    job.fill("#worker_name", "王师傅")
    job.fill("#labour-hours", "2")
    job.fill("#note", "更换爆裂的水管一段")
    job.click("#submit")
    job.wait_for_selector("#job-done")
    screenshot(job, "6-contractor-done")
    contractor.close()

    messages = _outbox(app)
    assert len([m for m in messages if m.recipient_type == "contractor"]) == 1
    completed = [m.to_phone for m in messages if m.template == "resident_completed"]
    assert completed == [f"+86{REPORTS[0][0]}"]
    together = [m for m in messages if m.template == "resident_completed_together"]
    assert sorted(m.to_phone for m in together) == sorted(
        f"+86{number}" for number, _w, _c in REPORTS[1:]
    )
    for message, (_context, _page, ticket) in zip(
        sorted(together, key=lambda m: m.to_phone),
        sorted(residents[1:], key=lambda r: r[2]),
        strict=True,
    ):
        assert ticket in message.body and parent in message.body

    # A merged reporter's own page says the repair is done.
    second = residents[1][1]
    second.reload()
    assert "已修复" in second.locator("#group-status").inner_text()
    assert second.locator("#what-next").count() == 0  # nothing for them to confirm
    screenshot(second, "7-merged-resident-sees-done")
    for context, _page, _ticket in residents:
        context.close()


def _report_on_phone(browser, live_server, entrance_code, words, number) -> str:
    context = _phone(browser)
    page = context.new_page()
    page.goto(f"{live_server}/q/{entrance_code}")
    page.fill("#spot", "地下室")
    page.fill("#description", words)
    page.fill("#phone", number)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/t/YG-\d{8}-\d{4}/received$"))
    ticket = re.search(r"/t/([^/]+)/received", page.url).group(1)
    context.close()
    return ticket


def test_a_flood_joining_a_dripping_pipe_says_so_and_a_repaired_group_splits_on_a_tick(
    app, browser, live_server, officer, entrance_code, screenshot
):
    """An urgent report makes the general group urgent: the board and the job page
    show its own words. After the repair, splitting it out needs a tick."""
    drip = _report_on_phone(
        browser, live_server, entrance_code, "楼道的水管接头一直在滴水", "13900000020"
    )
    flood = _report_on_phone(
        browser, live_server, entrance_code, "水管爆裂，电梯井进水了", "13900000021"
    )
    raised = [m for m in _outbox(app) if m.template == "urgency_raised"]
    assert len(raised) == 1 and "电梯井进水" in raised[0].body

    context, desk = officer_at_desk(browser, live_server, wait_for="#sections")
    desk.goto(f"{live_server}/board/t/{drip}")
    shown = desk.locator("#raised-by").inner_text()
    assert flood in shown and "水管爆裂，电梯井进水了" in shown
    screenshot(desk, "1-board-made-urgent-by")

    with app.app_context():
        link = ContractorActions(None, PRIMARY).link()
    phone = _phone(browser)
    job = phone.new_page()
    job.goto(live_server + link)
    assert "水管爆裂，电梯井进水了" in job.locator("#raised-by").inner_text()
    screenshot(job, "2-job-made-urgent-by")
    job.click("#accept")
    job.wait_for_selector("#arrive")
    job.click("#arrive")
    job.wait_for_selector("#complete-form")
    job.fill("#worker_name", "王师傅")
    job.fill("#labour-hours", "1")
    job.set_input_files(
        "#photo-camera",
        files=[{"name": "done.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()}],
    )
    job.click("#submit")
    job.wait_for_selector("#job-done")
    phone.close()

    # The repair is done: the held report's split needs the officer's tick.
    desk.goto(f"{live_server}/board/t/{flood}")
    desk.wait_for_selector("#split-form")
    box = desk.locator("#another-problem")
    assert box.get_attribute("required") is not None
    desk.click("#split-out")  # the browser stops it: the box is required
    assert "/board/t/" in desk.url and desk.locator("#another-problem").count() == 1
    screenshot(desk, "3-split-after-repair-needs-a-tick")
    box.check()
    desk.click("#split-out")
    desk.wait_for_selector(".flash, .alert-ok")
    with app.app_context():
        from tests.factories import find_ticket

        assert find_ticket(flood).status.value == "dispatched"
    context.close()
