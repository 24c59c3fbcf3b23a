"""The resident's whole story in headless Chromium at a phone's size."""

from __future__ import annotations

import re

import pytest

from tests.factories import jpeg_bytes

pytestmark = pytest.mark.browser


def test_resident_scans_sticker_and_reports_with_photo(
    live_server, entrance_code, phone, screenshot, tmp_path
):
    photo = tmp_path / "stairwell.jpg"
    photo.write_bytes(jpeg_bytes(size=(4032, 3024), gps=True))
    phone.goto(f"{live_server}/q/{entrance_code}")
    assert "阳光花园 3栋 2单元" in phone.locator("#place").inner_text()
    screenshot(phone, "1-form")

    phone.set_input_files("#photo-library", str(photo))
    assert phone.locator("#previews img").count() == 1
    phone.fill("#spot", "3楼楼梯间扶手")
    phone.fill("#description", "扶手松动，老人上下楼很危险")
    phone.click("label[for=cat-structure]")
    phone.fill("#phone", "13800138000")
    screenshot(phone, "2-filled")
    phone.click("#submit")

    phone.wait_for_url(re.compile(r"/t/YG-\d{8}-\d{4}/received$"))
    number = phone.locator("#ticket-number").inner_text()
    assert re.fullmatch(r"YG-\d{8}-0001", number)
    screenshot(phone, "3-received")

    phone.click("#track-link")
    # the resident's own view: the key stays in their session, not in the address
    phone.wait_for_url(re.compile(rf"/t/{number}$"))
    assert "扶手松动" in phone.locator("#ticket-description").inner_text()
    assert phone.locator(".thumbs img").count() == 1
    assert "13800138000" not in phone.content()
    assert phone.locator("#timeline li").count() >= 1
    screenshot(phone, "4-tracking")


def test_resident_without_javascript_gets_errors_and_keeps_text(
    browser, live_server, entrance_code, screenshot, tmp_path
):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        java_script_enabled=False,
        locale="zh-CN",
    )
    page = context.new_page()
    page.goto(f"{live_server}/q/{entrance_code}")
    page.fill("#description", "电梯门关不上")
    not_a_photo = tmp_path / "notes.txt"
    not_a_photo.write_text("hello")
    page.set_input_files("#photo-library", str(not_a_photo))
    page.click("#submit")
    assert "不是可识别的照片" in page.locator("#form-errors").inner_text()
    assert page.input_value("#description") == "电梯门关不上"
    screenshot(page, "error")

    photo = tmp_path / "lift.jpg"
    photo.write_bytes(jpeg_bytes())
    page.set_input_files("#photo-library", str(photo))
    page.click("#submit")
    page.wait_for_url(re.compile(r"/received$"))
    assert page.locator("#ticket-number").inner_text().startswith("YG-")
    context.close()


def test_english_toggle_on_the_phone(live_server, entrance_code, phone):
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.click("a.lang")
    assert phone.locator("#submit").inner_text() == "Send report"
    phone.goto(f"{live_server}/q/{entrance_code}")
    assert phone.locator("#submit").inner_text() == "Send report"  # remembered


def test_rejected_photo_with_javascript_keeps_the_page_styled_and_the_text(
    live_server, entrance_code, phone, screenshot, tmp_path
):
    phone.goto(f"{live_server}/q/{entrance_code}")
    not_a_photo = tmp_path / "scan.pdf"
    not_a_photo.write_bytes(b"%PDF-1.7\n")
    phone.set_input_files("#photo-library", str(not_a_photo))
    phone.fill("#description", "单元门禁坏了，刷卡没反应")
    phone.click("#submit")
    phone.wait_for_selector("#form-errors")
    assert phone.input_value("#description") == "单元门禁坏了，刷卡没反应"
    # still styled: the header keeps its brand colour (an unstyled page is white)
    background = phone.eval_on_selector(
        "header.top", "el => getComputedStyle(el).backgroundColor"
    )
    assert background == "rgb(10, 108, 189)"
    screenshot(phone, "rejected")
    photo = tmp_path / "door.jpg"
    photo.write_bytes(jpeg_bytes())
    phone.set_input_files("#photo-library", str(photo))
    phone.click("#submit")  # the swapped-in form is bound again
    phone.wait_for_url(re.compile(r"/received$"))


def test_a_hong_kong_resident_writes_in_traditional_characters_and_is_heard(
    live_server, entrance_code, phone, screenshot
):
    # u12's writers (Hong Kong, Macau, Taiwan residents) write 升降機 and 困咗 in
    # traditional characters; the classifier read other characters than in
    # simplified. Now: urgent at once, the lift's numbers on the confirmation.
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.fill("#description", "升降機停咗，我阿爸喺入面出唔到嚟")
    screenshot(phone, "1-filled")
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/t/YG-\d{8}-\d{4}/received$"))
    assert phone.locator("#call-now").is_visible()
    assert "电梯" in phone.locator("#call-now h2").inner_text()
    assert "前响应" in phone.locator("#deadlines").inner_text()  # urgent: 30 min
    screenshot(phone, "2-received")


def _characters(page, selector: str) -> int:
    """The field's length as the resident counts it (an emoji is one)."""
    return page.eval_on_selector(selector, "el => Array.from(el.value).length")


def test_a_long_paste_is_never_cut_and_the_counter_says_what_to_take_out(
    live_server, entrance_code, phone, screenshot
):
    # Outside tester: a long WeChat message pasted into the description was cut at
    # 2000 without a word, and an emoji counted two towards that limit.
    phone.goto(f"{live_server}/q/{entrance_code}")
    assert not phone.locator("#description-count").is_visible()  # short: no nagging
    phone.focus("#description")
    # 1,500 characters, 1,750 UTF-16 units (what maxlength counted)
    phone.keyboard.insert_text("楼道灯不亮👍" * 250)
    assert _characters(phone, "#description") == 1500
    assert not phone.locator("#description-count").is_visible()
    phone.keyboard.insert_text("水管漏水了" * 80)  # 1,900 characters: the last tenth
    assert phone.locator("#description-count").inner_text() == "还可以写 100 字"
    phone.keyboard.insert_text("还在漏" * 100)  # 2,200: nothing cut
    assert _characters(phone, "#description") == 2200
    counter = phone.locator("#description-count")
    assert counter.inner_text() == "多了 200 字，请删减后再发送"
    assert "field-error" in counter.get_attribute("class")
    screenshot(phone, "over")

    phone.click("#submit")  # the server says the same, and keeps every word
    phone.wait_for_selector("#form-errors")
    counter = phone.locator("#description-count")  # in the form sent back
    assert "现在有 2200 字，请删减到 2000 字以内。" in phone.inner_text("#form-errors")
    assert _characters(phone, "#description") == 2200
    assert counter.inner_text() == "多了 200 字，请删减后再发送"
    phone.fill("#description", "👍🏻" * 1900)  # thumb and skin tone: one each
    assert counter.inner_text() == "还可以写 100 字"
    phone.fill("#description", "楼道灯不亮👍" * 250)
    assert not phone.locator("#description-count").is_visible()
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/received$"))


def _report_and_track(phone, live_server: str, entrance_code: str) -> None:
    """Reports a lamp out, on Playwright's clock, and opens the tracking page."""
    phone.clock.install()
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.fill("#description", "楼道灯不亮")
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/received$"))
    phone.click("#track-link")
    phone.wait_for_selector("#add-photo-form")


def test_the_tracking_page_never_reloads_over_a_photo_being_added(
    live_server, entrance_code, phone, screenshot, tmp_path
):
    # Outside tester: the page reloaded itself each minute and dropped a photo
    # chosen but not yet sent.
    _report_and_track(phone, live_server, entrance_code)
    note = phone.locator("#auto-refresh")
    assert note.inner_text() == "本页每分钟自动刷新。"

    phone.evaluate("window.stillHere = true")
    with phone.expect_navigation():
        phone.clock.run_for("01:01")  # nothing being given: the page updates
    assert phone.evaluate("window.stillHere === undefined")

    photo = tmp_path / "lamp.jpg"
    photo.write_bytes(jpeg_bytes())
    phone.set_input_files("#add-photo-form #photo-library", str(photo))
    phone.evaluate("window.stillHere = true")
    phone.clock.run_for("05:00")
    assert phone.evaluate("window.stillHere === true")  # not reloaded
    assert phone.locator("#previews img").count() == 1
    assert note.inner_text() == "您正在添加的内容发送之后，本页才会自动更新。"
    screenshot(phone, "waiting")
    phone.click("#add-photo-form #submit")
    phone.wait_for_url(re.compile(r"/t/[^/?]+(\?.*)?$"))
    phone.wait_for_selector("#timeline")


def test_photos_kept_after_a_message_are_not_reloaded_away(
    live_server, entrance_code, phone, screenshot, tmp_path
):
    # Outside tester: four photos for a report with room for three came back
    # "kept", and the page's minute reload threw the kept ones away.
    _report_and_track(phone, live_server, entrance_code)
    paths = []
    for n in range(4):
        path = tmp_path / f"lamp-{n}.jpg"
        path.write_bytes(jpeg_bytes(color=(40 * n, 90, 120)))
        paths.append(str(path))
    phone.set_input_files("#add-photo-form #photo-library", paths)
    phone.click("#add-photo-form #submit")
    phone.wait_for_selector("#add-photo #form-errors")
    assert "最多 3 张照片" in phone.inner_text("#form-errors")
    phone.evaluate("window.stillHere = true")
    phone.clock.run_for("05:00")
    assert phone.evaluate("window.stillHere === true")  # not reloaded
    assert phone.locator("#add-photo .thumbs img").count() >= 3
    assert "发送之后" in phone.inner_text("#auto-refresh")
    phone.click("#add-photo-form #submit")
    phone.wait_for_selector("#photo-added")
    assert "谢谢，照片已收到" in phone.inner_text("#photo-added")
    screenshot(phone, "added")


def test_switching_language_keeps_everything_given(
    app, live_server, entrance_code, phone, screenshot, tmp_path
):
    # Outside tester: tapping English on a filled-in report emptied it, photo,
    # spot, words and phone; 中文 again gave another empty form.
    photo = tmp_path / "gate.jpg"
    photo.write_bytes(jpeg_bytes(color=(150, 60, 40)))
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.set_input_files("#photo-library", str(photo))
    phone.fill("#spot", "地下车库入口")
    phone.fill("#description", "车库卷帘门卡住了，车出不去😭")
    phone.click("label[for=cat-structure]")
    phone.fill("#phone", "13800138000")
    phone.click("header .lang")
    phone.wait_for_selector("html[lang=en]")
    assert phone.input_value("#spot") == "地下车库入口"
    assert phone.input_value("#description") == "车库卷帘门卡住了，车出不去😭"
    assert phone.input_value("#phone") == "13800138000"
    assert phone.is_checked("#cat-structure")
    assert phone.locator("#report-form .thumbs img").count() == 1  # the photo, kept
    assert phone.locator("#form-errors").count() == 0  # nothing was refused
    assert _count_tickets(app) == 0  # nothing was filed
    screenshot(phone, "english")
    phone.click("header .lang")  # and back again
    phone.wait_for_selector("html[lang=zh-CN]")
    assert phone.input_value("#description") == "车库卷帘门卡住了，车出不去😭"
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/received$"))
    phone.click("#track-link")
    phone.wait_for_selector("#ticket-description")
    assert phone.locator(".thumbs img").count() == 1
    assert _count_tickets(app) == 1


def _count_tickets(app) -> int:
    import sqlalchemy as sa

    from repair.db import db
    from repair.models import Ticket

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Ticket.id)))
