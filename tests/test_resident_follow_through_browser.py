"""Residents confirm, dispute and rate a repair in headless Chromium on a phone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Ticket, TicketStatus
from tests.actions import ContractorActions
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.browser


@pytest.fixture
def repaired(app, client, resident) -> str:
    number = resident.report(description="3楼楼梯间扶手松动", phone="13912345678")
    with app.app_context():
        contractor = ContractorActions(client, "+8613800000001")
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅", note="重新固定扶手")
    return number


def _private(app, number: str) -> str:
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        return f"/t/{number}?k={ticket.resident_key}"


def _status(app, number: str) -> TicketStatus:
    with app.app_context():
        db.session.expire_all()
        return db.session.scalar(
            sa.select(Ticket.status).where(Ticket.number == number)
        )


def test_resident_confirms_the_repair_and_rates_it(
    app, repaired, live_server, phone, screenshot
):
    phone.goto(live_server + _private(app, repaired))
    assert "王师傅" in phone.locator("#completion").inner_text()
    # Two choices as clear as each other (outside tester, 68, on a small phone:
    # "没有修好" was a 24 px line under a full-width "已修好" button).
    fixed = phone.locator("#fixed").bounding_box()
    not_fixed = phone.locator("#not-fixed").bounding_box()
    assert not_fixed["height"] >= 44 and abs(not_fixed["width"] - fixed["width"]) < 2
    screenshot(phone, "1-is-it-fixed")
    phone.click("#fixed")
    phone.wait_for_selector("#rating-form")
    assert _status(app, repaired) is TicketStatus.CLOSED
    phone.click("label[for=stars-5]")
    phone.fill("#comment", "师傅很负责")
    screenshot(phone, "2-rating")
    phone.click("#send-rating")
    phone.wait_for_selector("#rated")
    screenshot(phone, "3-rated")


def test_resident_says_it_is_not_fixed_with_a_photo(
    app, repaired, live_server, phone, screenshot, tmp_path
):
    photo = tmp_path / "still-loose.jpg"
    photo.write_bytes(jpeg_bytes(size=(3000, 4000), color=(180, 70, 60)))
    phone.goto(live_server + _private(app, repaired))
    phone.click("text=没有修好")
    phone.fill("#still-wrong", "扶手还是晃，螺丝没拧紧")
    phone.set_input_files("#photo-library", str(photo))
    screenshot(phone, "1-not-fixed")
    phone.click("#submit")
    phone.wait_for_selector("#timeline")
    phone.locator("#confirm").wait_for(state="detached")
    assert _status(app, repaired) is TicketStatus.DISPATCHED
    assert "已重新打开" in phone.locator("#timeline").inner_text()
    # heard, with what they wrote, on the first screen
    heard = phone.locator("#reopened")
    assert heard.is_visible() and "扶手还是晃，螺丝没拧紧" in heard.inner_text()
    assert heard.bounding_box()["y"] < 844
    screenshot(phone, "2-reopened")


def test_someone_with_only_the_number_sees_no_questions(
    app, repaired, live_server, phone
):
    phone.goto(f"{live_server}/t/{repaired}")
    assert phone.locator("#confirm").count() == 0
    assert phone.locator("#completion").count() == 0  # the record is private


def test_a_refused_rating_shows_its_message_in_sight_and_a_reload_is_safe(
    app, repaired, live_server, phone, screenshot
):
    # Outside tester: a comment too long came back at the top of the page with
    # its message 1,300 px below, and reopening the address gave a 405.
    phone.goto(live_server + _private(app, repaired))
    phone.click("#fixed")
    phone.wait_for_selector("#rating-form")
    phone.click("label[for=stars-2]")
    phone.fill("#comment", "师傅来得太晚了。" * 140)  # 1,120 characters of 1,000
    phone.click("#send-rating")
    phone.wait_for_url("**/rate")
    message = phone.locator("#rating-form .field-error[role=alert]")
    assert message.inner_text() == "现在有 1120 字，请删减到 1000 字以内。"
    assert phone.evaluate(
        "() => { const r = document.querySelector('#rating-form [role=alert]')"
        ".getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
    )
    assert phone.input_value("#comment") == "师傅来得太晚了。" * 140
    screenshot(phone, "refused-in-sight")
    phone.goto(phone.url)  # the restored tab opens the address again
    assert phone.url.endswith(f"/t/{repaired}")
    assert phone.locator("#rating-form").count() == 1


def test_a_not_fixed_after_confirming_elsewhere_says_so_in_sight(
    app, repaired, live_server, phone, screenshot
):
    # Outside tester: a stale tab's "not fixed" reopened a confirmed ticket. Now
    # it is not sent, and the page says so where the resident is looking.
    phone.goto(live_server + _private(app, repaired))
    other = phone.context.new_page()  # the same resident, another tab
    other.goto(live_server + _private(app, repaired))
    other.click("#fixed")
    other.wait_for_selector("#rating-form")
    other.close()
    phone.click("#not-fixed")
    phone.fill("#still-wrong", "扶手还是晃")
    phone.click("#not-fixed-form button[type=submit]")
    notice = phone.locator("#not-sent")
    notice.wait_for()
    assert "扶手还是晃" in notice.inner_text()  # what she wrote, shown back
    assert notice.is_visible() and phone.evaluate(
        "document.getElementById('not-sent').getBoundingClientRect().top > -2"
    )
    assert _status(app, repaired) is TicketStatus.CLOSED
    screenshot(phone, "not-sent")
