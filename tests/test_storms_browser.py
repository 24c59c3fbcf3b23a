"""A storm in headless Chromium: five residents report the same burst pipe on their
phones, the board proposes the group, the officer merges it at a desk, the
contractor hears once and completes once, and every reporter hears it is done."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dispatch.models import OutboxMessage
from repair.db import db
from tests.actions import ContractorActions
from tests.conftest import OFFICER_PASSWORD
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
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN"
    )
    desk = context.new_page()
    desk.goto(f"{live_server}/board")
    desk.fill("#username", "officer")
    desk.fill("#password", OFFICER_PASSWORD)
    desk.click("#login")
    desk.wait_for_selector("#section-groups")
    proposal = desk.locator(f'#section-groups [data-group="{parent}"]').inner_text()
    assert "5 份报修像是同一个问题" in proposal
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
    job.fill("#note", "更换爆裂的水管一段")
    job.click("#submit")
    job.wait_for_selector("#job-done")
    screenshot(job, "6-contractor-done")
    contractor.close()

    messages = _outbox(app)
    assert len([m for m in messages if m.recipient_type == "contractor"]) == 1
    completed = sorted(
        m.to_phone for m in messages if m.template == "resident_completed"
    )
    assert completed == sorted(f"+86{number}" for number, _w, _c in REPORTS)

    # A merged reporter's own page says the repair is done.
    second = residents[1][1]
    second.reload()
    assert "已修复" in second.locator("#group-status").inner_text()
    assert second.locator("#what-next").count() == 0  # nothing for them to confirm
    screenshot(second, "7-merged-resident-sees-done")
    for context, _page, _ticket in residents:
        context.close()
