"""The contractor's whole job in headless Chromium at a phone's size."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Ticket
from tests.actions import ContractorActions
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.browser


def test_contractor_accepts_arrives_and_completes_from_the_sms_link(
    app, client, resident, live_server, phone, screenshot, tmp_path
):
    number = resident.report(description="3楼楼梯间扶手松动", phone="13912345678")
    with app.app_context():
        link = ContractorActions(client, "+8613800000001").link()

    phone.goto(live_server + link)
    assert "3楼楼梯间扶手松动" in phone.locator("#job-description").inner_text()
    assert phone.locator("#call-resident").count() == 0
    # minutes and seconds, in words: never read as a time of day
    assert re.search(
        r"还剩 \d+ (小时 \d+ 分|分 \d+ 秒)", phone.locator("#countdown").inner_text()
    )
    screenshot(phone, "1-offer")

    phone.click("#accept")
    phone.wait_for_selector("#call-resident")
    assert "+8613912345678" in phone.locator("#call-resident").get_attribute("href")
    screenshot(phone, "2-accepted")

    place = tmp_path / "place.jpg"
    place.write_bytes(jpeg_bytes(color=(120, 110, 90)))
    phone.set_input_files("#arrival-photo", str(place))  # the camera, at the place
    phone.click("#arrive")
    phone.wait_for_selector("#arrive-form", state="detached")
    assert phone.locator("#arrive").count() == 0
    screenshot(phone, "3-on-site")

    not_a_photo = tmp_path / "notes.txt"
    not_a_photo.write_text("hello")
    phone.set_input_files("#photo-library", str(not_a_photo))
    phone.fill("#worker_name", "王师傅")
    phone.fill("#labour-hours", "1")
    phone.fill("#note", "重新固定扶手，更换膨胀螺丝")
    phone.click("#submit")
    phone.wait_for_selector("#form-errors")
    assert phone.input_value("#worker_name") == "王师傅"  # nothing typed is lost
    screenshot(phone, "4-rejected-photo")

    photo = tmp_path / "fixed.jpg"
    photo.write_bytes(jpeg_bytes(size=(4000, 3000), color=(60, 150, 80)))
    phone.set_input_files("#photo-camera", str(photo))
    phone.click("#submit")
    phone.wait_for_selector("#job-done")
    screenshot(phone, "5-done")

    with app.app_context():
        key = db.session.scalar(
            sa.select(Ticket.resident_key).where(Ticket.number == number)
        )
    phone.goto(f"{live_server}/t/{number}?k={key}")  # the resident's private link
    record = phone.locator("#completion").inner_text()
    assert "王师傅" in record and "安居维保服务有限公司" in record
    assert phone.locator("#completion img").count() == 1
    screenshot(phone, "6-tracking-record")


def test_a_completion_being_typed_survives_the_language_and_the_arrival(
    app, client, resident, live_server, phone, screenshot, tmp_path
):
    # Outside testers: tapping English on a completion emptied it (later it only
    # asked first), and tapping 我已到场 above a repair record typed in advance
    # (two material lines, labour, name and note) emptied it without a word.
    resident.report(description="电梯坏了，停在5楼不动了")  # urgent: two clocks
    with app.app_context():
        link = ContractorActions(client, "+8613800000001").link()
    phone.goto(live_server + link)
    # before accepting, both deadlines (tester: only 接单截止 was shown)
    assert "接单截止" in phone.locator(".due-line").first.inner_text()
    assert "到场截止" in phone.locator("#on-site-by").inner_text()
    phone.click("#accept")
    phone.wait_for_selector("#complete-form")
    phone.fill("#material-name-0", "DN25 PPR水管")
    phone.fill("#material-quantity-0", "2")
    phone.fill("#material-price-0", "18.5")
    phone.click("#add-line")
    second = phone.locator("[data-line]").nth(1)
    second.locator("input[name=material_name]").fill("管卡")
    second.locator("input[name=material_quantity]").fill("4")
    second.locator("input[name=material_price]").fill("2.5")
    phone.fill("#labour-hours", "1.5")
    phone.fill("#labour-cost", "120")
    phone.fill("#worker_name", "李师傅")
    phone.fill("#note", "换了一段水管\n顺便加固了管卡")
    asked = []
    phone.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))

    phone.click("header .lang")  # words only: nothing to ask, all comes back
    phone.wait_for_selector("html[lang=en]")
    assert asked == []
    assert phone.input_value("#note") == "换了一段水管\n顺便加固了管卡"
    assert phone.locator("[data-line]").count() == 2
    assert "167.00" in phone.locator("#total-cost").inner_text()  # worked out again
    phone.click("header .lang")
    phone.wait_for_selector("html[lang=zh-CN]")

    phone.click("text=相机用不了？")  # arriving without a photo, as the tester did
    phone.fill("#no-photo-reason", "手机相机坏了")
    phone.click("#arrive")
    phone.wait_for_selector("#arrive-form", state="detached")
    assert phone.input_value("#worker_name") == "李师傅"
    assert phone.input_value("#labour-hours") == "1.5"
    names = phone.locator("[data-line] input[name=material_name]")
    assert [names.nth(i).input_value() for i in range(2)] == ["DN25 PPR水管", "管卡"]
    screenshot(phone, "kept-after-arrival")

    photo = tmp_path / "fixed.jpg"
    photo.write_bytes(jpeg_bytes(color=(60, 150, 80)))
    phone.set_input_files("#photo-camera", str(photo))
    phone.click("header .lang")  # a photo chosen: it asks, and keeps it if told no
    assert asked and "需要重新选择照片" in asked[-1]
    phone.wait_for_selector("html[lang=en]")
    phone.set_input_files("#photo-camera", str(photo))
    phone.click("#submit")
    phone.wait_for_selector("#job-done")
    phone.goto(live_server + link)  # sent: nothing typed is put back anywhere
    assert phone.evaluate("Object.keys(sessionStorage).length") == 0
