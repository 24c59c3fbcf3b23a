"""In Chromium on a phone: Back and Send again, the language toggle, the danger chip."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dispatch.models import MessageStatus, OutboxMessage
from repair.db import db
from repair.models import Ticket, Urgency
from tests.actions import ContractorActions

pytestmark = pytest.mark.browser

RECEIVED = re.compile(r"/t/YG-\d{8}-\d{4}/received$")


def _tickets(app) -> list[Ticket]:
    with app.app_context():
        db.session.expire_all()
        return list(db.session.scalars(sa.select(Ticket)))


def test_back_and_send_again_gives_one_ticket(
    app, live_server, entrance_code, phone, screenshot
):
    # The spot and a phone too: Chromium restores the description after Back but
    # not the spot (no autofill on it), and an outside tester's report sent again
    # so became a second ticket, grouped with the first as "a neighbour's".
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.click("label[for=danger-none]")
    phone.fill("#spot", "3楼楼梯间")
    phone.fill("#description", "3楼楼梯间扶手松动")
    phone.fill("#phone", "13600136001")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    first = phone.url
    phone.go_back()
    phone.wait_for_selector("#report-form")
    if not phone.input_value("#description"):  # whatever the browser restored
        phone.fill("#description", "3楼楼梯间扶手松动")
    screenshot(phone, "1-back")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    assert phone.url == first
    assert len(_tickets(app)) == 1


def test_the_language_toggle_keeps_the_rating_card(
    app, client, live_server, entrance_code, phone, screenshot
):
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.fill("#description", "3楼楼梯间扶手松动")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    contractor = ContractorActions(client, "+8613800000001")
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")

    phone.click("#track-link")  # the big button on the confirmation page
    phone.click("#fixed")
    phone.wait_for_selector("#rating-form")
    assert "k=" not in phone.url
    phone.click("a.lang")
    phone.wait_for_url(re.compile(r"lang=en"))
    assert "How satisfied are you?" in phone.locator("#rate").inner_text()
    screenshot(phone, "1-rating-in-english")
    phone.click("label[for=stars-5]")
    phone.click("#send-rating")
    phone.wait_for_selector("#rated")


def test_someone_trapped_without_a_photo_and_without_javascript(
    app, browser, live_server, entrance_code, jobs, screenshot
):
    with app.app_context():
        from repair.models import Community

        db.session.scalar(sa.select(Community)).lift_emergency_phone = "96333"
        db.session.commit()
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        java_script_enabled=False,
    )
    phone = context.new_page()
    try:
        phone.goto(f"{live_server}/q/{entrance_code}")
        assert not phone.locator("#call-now").is_visible()
        phone.click("label[for=danger-trapped]")
        numbers = phone.locator("#call-now")
        assert numbers.is_visible()  # by CSS alone
        assert "119" in numbers.inner_text() and "96333" in numbers.inner_text()
        assert phone.locator("#trapped-advice").is_visible()  # what to tell them
        assert "有人被困，请立即拨打" in numbers.inner_text()  # not "get to safety"
        assert "请先到安全的地方" not in numbers.inner_text()
        assert not phone.locator("#gas-advice").is_visible()
        screenshot(phone, "1-call-now")
        phone.fill("#description", "电梯停在5楼和6楼中间，里面有个老人")
        phone.click("#submit")
        phone.wait_for_url(RECEIVED)
        assert "96333" in phone.locator("#call-now").inner_text()
        screenshot(phone, "2-received")
    finally:
        context.close()
    (ticket,) = _tickets(app)
    assert ticket.urgency is Urgency.URGENT
    assert ticket.classification["reasons"][0] == "declared:lift:有人被困"
    jobs.run_due()
    with app.app_context():
        sent = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.to_phone == "+8613800000001")
        ).all()
        assert sent and all(m.status is MessageStatus.SENT for m in sent)
        assert ticket.number in sent[0].body


def test_a_report_without_a_photo_says_it_is_being_sent(
    app, live_server, entrance_code, phone
):
    # With no photo chosen the form said "正在处理照片…" and "正在上传… 100%"
    # (outside tester): there was no photo. What the progress line said is kept
    # in sessionStorage, which outlives the page the answer replaces.
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.evaluate(
        """() => {
          const line = document.getElementById("progress-text");
          new MutationObserver(() => {
            const seen = JSON.parse(sessionStorage.getItem("said") || "[]");
            seen.push(line.textContent);
            sessionStorage.setItem("said", JSON.stringify(seen));
          }).observe(line, {childList: true, characterData: true, subtree: true});
        }"""
    )
    phone.click("label[for=danger-gas]")
    phone.fill("#description", "楼道里煤气味很重")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    said = phone.evaluate("() => JSON.parse(sessionStorage.getItem('said') || '[]')")
    assert said and set(said) == {"正在提交报修…"}, said


def test_coming_back_to_a_gas_report_finds_the_numbers_first(
    live_server, entrance_code, phone, screenshot
):
    # The resident reports a smell of gas, leaves the page, and comes back later
    # by the tracking link: the numbers to call are still the first thing seen.
    phone.goto(f"{live_server}/q/{entrance_code}")
    assert phone.locator("#photo-prompt").is_visible()
    phone.click("label[for=danger-gas]")
    # the red box says no photo is needed; the yellow call for one goes (tester)
    assert not phone.locator("#photo-prompt").is_visible()
    phone.fill("#description", "楼道里煤气味很重")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    number = phone.locator("#ticket-number").inner_text()
    phone.goto(f"{live_server}/t/{number}")
    card = phone.locator("#call-now")
    assert card.is_visible()
    box = card.bounding_box()
    assert box["y"] < 844 and box["width"] <= 390  # on the first screen, no overflow
    # the demo community sets no gas company line: the fire brigade comes first
    first = phone.locator("#call-now a.call").first
    assert first.get_attribute("href") == "tel:119"
    assert phone.locator("#gas-advice").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "tracking")


def test_a_lifts_long_certificate_number_keeps_the_numbers_on_a_phones_screen(
    app, live_server, entrance_code, phone, screenshot
):
    # A lift's label carries its 20-digit certificate number, which cannot wrap:
    # the numbers grew the page to 457 px on a 390 px phone, and 119, 110 and 120
    # went off its right edge, on the form and on both pages after (outside tester).
    from repair.models import Community, Entrance, Lift

    with app.app_context():
        db.session.scalar(sa.select(Community)).lift_emergency_phone = "96333"
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        lift = Lift(
            entrance=entrance,
            name="1号梯",
            certificate_number="31103301002016070001",
            emergency_phone="0571-88886666",
        )
        db.session.add_all([lift, Lift(entrance=entrance, name="2号梯", sort_order=1)])
        db.session.commit()
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.click("label[for=danger-trapped]")
    phone.locator("label", has_text="31103301002016070001").first.click()
    assert phone.locator("#call-now").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "1-form")
    phone.fill("#description", "电梯停了，里面有人")
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/received$"))
    assert "0571-88886666" in phone.locator("#call-now").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "2-received")
    phone.click("#track-link")
    phone.wait_for_load_state()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "3-track")


def test_a_trapped_persons_page_once_help_is_late(
    app, live_server, entrance_code, phone, screenshot
):
    # Past the 30 minutes with nobody there, the page said "help is on its way"
    # and "on site by" a time already gone (outside tester): on the phone it now
    # says help is late and to call 119, first thing, on one screen's width.
    from datetime import timedelta

    from repair.models import Entrance, Lift

    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        db.session.add(Lift(entrance=entrance, name="1号梯"))
        db.session.commit()
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.click("label[for=danger-trapped]")
    phone.fill("#description", "电梯停了，里面有人出不来")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    number = phone.locator("#ticket-number").inner_text()
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        gone = timedelta(minutes=31)
        for field in ("created_at", "triage_due_at", "contact_due_at"):
            setattr(ticket, field, getattr(ticket, field) - gone)
        ticket.on_site_due_at -= gone
        db.session.commit()
    phone.goto(f"{live_server}/t/{number}")
    card = phone.locator("#call-now")
    assert "救援未在时限内到达" in card.inner_text()
    assert "按电梯内的警铃" not in card.inner_text()
    assert phone.locator("#late").is_visible()
    assert card.bounding_box()["y"] < 844
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "late")


def test_a_flood_on_a_phone_says_what_to_keep_away_from(
    app, live_server, entrance_code, phone, screenshot
):
    # A burst pipe's card listed 119, 110 and 120 first and said nothing of water
    # and power (outside tester): the advice shows with the chip, the community's
    # line (who can shut the water off) comes first once it is sent.
    phone.goto(f"{live_server}/q/{entrance_code}")
    assert not phone.locator("#flood-advice").is_visible()
    phone.click("label[for=danger-flood]")
    assert phone.locator("#flood-advice").is_visible()
    assert not phone.locator("#gas-advice").is_visible()
    screenshot(phone, "1-form")
    phone.fill("#description", "大堂天花板里的水管爆了，水一直往下喷")
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    card = phone.locator("#call-now")
    assert "关闭总阀" in card.inner_text()
    first = phone.locator("#call-now a.call").first
    assert first.get_attribute("href") == "tel:075588886666"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "2-received")


def test_the_form_lists_first_the_lines_that_help_with_the_danger_chosen(
    app, live_server, entrance_code, phone, screenshot
):
    # Outside tester: with 燃气泄漏 chosen, the form's red box listed the lift's
    # emergency line among the numbers to call. Each chip now puts its own line
    # first and hides the one that cannot help.
    from repair.models import Community

    with app.app_context():
        community = db.session.scalar(sa.select(Community))
        community.gas_emergency_phone = "0755-8300 0119"
        community.lift_emergency_phone = "96333"
        db.session.commit()
    phone.goto(f"{live_server}/q/{entrance_code}")

    def shown() -> list[str]:
        """The numbers shown, top to bottom as the resident sees them."""
        links = [link for link in phone.locator("#call-now a.call").all()]
        seen = [
            (link.bounding_box()["y"], link.get_attribute("href"))
            for link in links
            if link.is_visible()
        ]
        return [href for _, href in sorted(seen)]

    phone.click("label[for=danger-gas]")
    assert shown()[0] == "tel:075583000119" and "tel:96333" not in shown()
    screenshot(phone, "gas")
    phone.click("label[for=danger-trapped]")
    assert shown()[0] == "tel:96333" and "tel:075583000119" not in shown()
    phone.click("label[for=danger-flood]")
    assert shown()[0] == "tel:075588886666"
    assert {"tel:119", "tel:110", "tel:120"} <= set(shown())


def test_someone_trapped_is_asked_which_lift_before_the_photos(
    app, live_server, entrance_code, phone, screenshot
):
    from repair.models import Entrance, Lift

    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        db.session.add_all(
            [
                Lift(entrance=entrance, name="1号梯"),
                Lift(entrance=entrance, name="2号梯"),
            ]
        )
        db.session.commit()
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.click("label[for=danger-trapped]")
    lift = phone.locator("#lift-label").bounding_box()
    photos = phone.locator("label[for=photo-camera]").bounding_box()
    assert lift["y"] < photos["y"]
    phone.locator("#lift-label").scroll_into_view_if_needed()
    screenshot(phone, "trapped-which-lift")
