"""The repair record on a phone in a stairwell (390×844): arrival with a photo of
the place, material lines added and removed with thumbs, the total as they type,
a mistake that keeps every line, the record on the board; and the same form
without JavaScript."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Community, Ticket, TicketStatus
from tests.actions import ContractorActions, officer_at_desk
from tests.factories import find_ticket, jpeg_bytes

pytestmark = pytest.mark.browser

PRIMARY = "+8613800000001"


def _fill_line(phone, index: int, name: str, quantity: str, unit: str, price: str):
    line = phone.locator("[data-line]").nth(index)
    line.locator("input[name=material_name]").fill(name)
    line.locator("input[name=material_quantity]").fill(quantity)
    line.locator("input[name=material_unit]").fill(unit)
    line.locator("input[name=material_price]").fill(price)


def test_contractor_arrives_with_a_photo_and_records_materials_on_a_phone(
    app, client, resident, live_server, phone, screenshot, tmp_path, browser, officer
):
    number = resident.report(description="3楼楼道水管漏水", phone="13912345678")
    with app.app_context():
        link = ContractorActions(client, PRIMARY).link()
    place = tmp_path / "place.jpg"
    place.write_bytes(jpeg_bytes(size=(3000, 4000), color=(120, 110, 90)))

    phone.goto(live_server + link)
    phone.click("#accept")
    phone.wait_for_selector("#arrive-form")
    prompt = phone.locator("#arrival-prompt").inner_text()
    assert "不要拍人" in prompt and "服务器" in prompt
    field = phone.locator("#arrival-photo")
    assert field.get_attribute("capture") == "environment"
    assert field.get_attribute("accept") == "image/*"
    assert phone.locator("#location-consent").count() == 0  # off by default
    screenshot(phone, "1-arrival-form")

    phone.click("#arrive")  # no photo, no reason: asked again, nothing lost
    phone.wait_for_selector("#arrival-errors")
    assert "不要拍人" in phone.locator("#arrival-errors").inner_text()
    screenshot(phone, "2-arrival-needs-a-photo")

    phone.set_input_files("#arrival-photo", str(place))
    phone.click("#arrive")
    phone.wait_for_selector("#arrive-form", state="detached")
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.ON_SITE

    # two lines typed with thumbs; the total follows as they type
    _fill_line(phone, 0, "PPR 水管", "2.5", "米", "12.34")
    assert phone.locator("#total-cost").inner_text() == "¥30.85"
    phone.click("#add-line")
    assert phone.locator("[data-line]").count() == 2
    _fill_line(phone, 1, "膨胀螺丝 M8", "3", "个", "0.34")
    phone.fill("#labour-hours", "1.5")
    phone.fill("#labour-cost", "80")
    assert phone.locator("#total-cost").inner_text() == "¥111.87"
    assert "材料 ¥31.87 + 人工 ¥80.00" in phone.locator("#total-parts").inner_text()
    phone.click("#add-line")
    _fill_line(phone, 2, "多余的一行", "1", "个", "5")
    assert phone.locator("#total-cost").inner_text() == "¥116.87"
    screenshot(phone, "3-three-lines")
    phone.locator("[data-line]").nth(2).locator("[data-remove]").click()
    assert phone.locator("[data-line]").count() == 2
    assert phone.locator("#total-cost").inner_text() == "¥111.87"
    # every control a thumb can hit: at least 44 px tall, nothing wider than the phone
    for selector in ("#add-line", "[data-remove]", "#material-name-0", "#submit"):
        box = phone.locator(selector).first.bounding_box()
        assert box["height"] >= 40, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    # a mistake: the form comes back with every line kept, and still counts
    phone.locator("[data-line]").nth(1).locator("input[name=material_quantity]").fill(
        "三个"
    )
    done = tmp_path / "done.jpg"
    done.write_bytes(jpeg_bytes(color=(60, 150, 80)))
    phone.set_input_files("#photo-camera", str(done))
    phone.fill("#worker_name", "王师傅")
    phone.click("#submit")
    phone.wait_for_selector("#form-errors")
    assert (
        "第 2 行：数量须为大于 0 的数字" in phone.locator("#form-errors").inner_text()
    )
    assert phone.locator("[data-line]").count() == 2
    assert phone.input_value("#material-name-0") == "PPR 水管"
    assert phone.input_value("#material-quantity-1") == "三个"
    assert phone.input_value("#worker_name") == "王师傅"
    screenshot(phone, "4-mistake-kept")
    phone.fill("#material-quantity-1", "3")
    assert phone.locator("#total-cost").inner_text() == "¥111.87"  # bound again
    phone.click("#submit")
    phone.wait_for_selector("#job-done")
    screenshot(phone, "5-done")

    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.COMPLETED
        assert ticket.total_cost_fen == 11187
        assert [m.name for m in ticket.materials] == ["PPR 水管", "膨胀螺丝 M8"]
        key = ticket.resident_key

    phone.goto(f"{live_server}/t/{number}?k={key}")
    assert "维保单位于" in phone.locator("#arrival").inner_text()
    assert phone.locator("#arrival img").count() == 1
    screenshot(phone, "6-tracking")

    board, page = officer_at_desk(
        browser,
        live_server,
        f"/board/t/{number}",
        wait_for="#repair-record",
        size=(1280, 900),
    )
    assert page.locator("#total-cost").inner_text() == "¥111.87"
    assert page.locator("#arrival-photo img").count() == 1
    screenshot(page, "7-board-record")
    board.close()


def test_material_lines_work_without_javascript(
    app, client, resident, live_server, browser, screenshot, officer
):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        link = ContractorActions(client, PRIMARY).link()
        community = db.session.scalar(sa.select(Community))
        community.asks_arrival_location = True  # no JavaScript: no location asked
        db.session.commit()
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        java_script_enabled=False,
    )
    phone = context.new_page()
    phone.goto(live_server + link)
    phone.click("#accept")
    phone.click("#no-photo summary")
    phone.fill("#no-photo-reason", "手机相机坏了")
    phone.click("#arrive")
    phone.wait_for_selector("#arrive-form", state="detached")
    _fill_line(phone, 0, "LED 灯泡", "2", "个", "15")
    phone.click("#add-line")  # a round trip to the server
    phone.wait_for_selector("#material-name-1")
    assert phone.input_value("#material-name-0") == "LED 灯泡"
    assert phone.locator("#form-errors").count() == 0
    assert phone.locator("#total-cost").inner_text() == "¥30.00"  # by the server
    _fill_line(phone, 1, "灯座", "1", "个", "8.5")
    phone.click("#add-line")
    phone.wait_for_selector("#material-name-2")
    screenshot(phone, "1-no-js-lines")
    phone.locator("[data-line]").nth(0).locator("[data-remove]").click()
    phone.wait_for_selector("#material-name-2", state="detached")
    assert phone.locator("[data-line]").count() == 1  # the blank line goes too
    assert phone.input_value("#material-name-0") == "灯座"
    phone.fill("#labour-hours", "0.5")
    phone.fill("#worker_name", "李师傅")
    phone.click("#submit")  # no photo of the repair: asked, nothing lost
    phone.wait_for_selector("#form-errors")
    assert phone.input_value("#material-name-0") == "灯座"
    screenshot(phone, "2-no-js-asked-for-photo")
    context.close()
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        assert ticket.status is TicketStatus.ON_SITE
        assert ticket.arrival_latitude is None
