"""An administrator's afternoon in headless Chromium at desktop size."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Building, Contractor, Entrance
from tests.conftest import ADMIN_PASSWORD, OFFICER_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def desktop(browser):
    """A desktop-sized page (1280×800) in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def _log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/board/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("#section-triage")


def test_admin_fixes_a_communitys_time_zone_and_service_phone(
    live_server, desktop, admin_user, demo, screenshot
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.click("nav.nav >> text=Administration")
    page.wait_for_selector("#communities")
    screenshot(page, "1-communities")

    page.click("#communities >> text=阳光花园")
    page.wait_for_selector("#community-form")
    page.fill("#timezone", "Asia/Nowhere")
    page.click("#save")
    page.wait_for_selector("#timezone-error")
    assert page.input_value("#timezone") == "Asia/Nowhere"
    # the summary at the top names the field; its link brings the field into view
    page.click("#form-errors a[href='#timezone']")
    assert page.locator("#timezone").is_visible()
    screenshot(page, "2-refused")
    page.fill("#timezone", "Asia/Shanghai")
    page.fill("#service_phone", "0755-8888 7777")
    page.click("#save")
    page.wait_for_selector(".flash-ok")
    assert page.input_value("#service_phone") == "0755-8888 7777"
    screenshot(page, "1-community")


def test_admin_adds_a_building_rotates_a_code_and_prints_its_sticker(
    app, live_server, desktop, admin_user, demo, screenshot, tmp_path
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.click("nav.nav >> text=Administration")
    page.wait_for_selector("#communities")
    page.click('#communities tr[data-slug="yangguang"] >> text=Buildings and entrances')
    page.wait_for_url(re.compile(r"/places$"))
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance)
            .join(Entrance.building)
            .where(Building.name == "3栋", Entrance.name == "2单元")
        )
        entrance_id, old_code = entrance.id, entrance.code
    assert page.locator(f"#entrance-{entrance_id} .entrance-code").inner_text() == (
        old_code
    )
    screenshot(page, "2-places")

    # a mistake keeps what was typed, next to its message
    page.fill("#building-new-name-en", "Building 4")
    page.click("#add-building button")
    page.wait_for_selector("#building-new-name-error")
    assert page.input_value("#building-new-name-en") == "Building 4"
    page.fill("#building-new-name", "4栋")
    page.click("#add-building button")
    page.wait_for_selector(".flash-ok")

    page.click(f"#rotate-{entrance_id}")
    page.wait_for_selector("#confirm-rotate")
    screenshot(page, "3-rotate-confirm")
    page.click("#confirm-rotate")
    page.wait_for_selector(".flash-ok")
    new_code = page.locator(f"#entrance-{entrance_id} .entrance-code").inner_text()
    assert new_code != old_code and new_code in page.locator(".flash-ok").inner_text()
    screenshot(page, "4-rotated")

    with page.expect_download() as download:
        page.click(f"#entrance-{entrance_id} >> text=Sticker (PDF)")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"sticker-yangguang-{new_code}.pdf"
    assert saved.read_bytes().startswith(b"%PDF")


def test_admin_adds_a_contractor_and_routes_the_lights_to_them(
    app, live_server, desktop, admin_user, demo, screenshot
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.click("nav.nav >> text=Administration")
    page.wait_for_selector("#communities")
    # with a typo first
    page.click("nav.subnav >> text=Contractors")
    page.click("#new-contractor")
    page.fill("#name", "明亮照明工程")
    page.fill("#contact_name", "刘师傅")
    page.fill("#phone", "139 1234")
    page.click("#save")
    page.wait_for_selector("#phone-error")
    assert page.input_value("#name") == "明亮照明工程"
    screenshot(page, "5-contractor-error")
    page.fill("#phone", "139 1234 5678")
    page.click("#save")
    page.wait_for_selector(".flash-ok")

    page.goto(f"{live_server}/board/admin/communities/{demo}/routes")
    page.select_option("#route-category", label="Lighting")
    page.select_option("#route-primary", label="明亮照明工程")
    page.select_option("#route-backup", label="顺达物业工程部")
    page.click("#save-route")
    page.wait_for_selector(".flash-ok")
    outcome = page.locator("#outcome tr", has_text="Lighting").inner_text()
    assert "明亮照明工程" in outcome
    screenshot(page, "6-routes")

    page.click("nav.subnav >> text=Contractors")
    page.wait_for_selector("#contractors")
    with app.app_context():
        lamps = db.session.scalar(
            sa.select(Contractor).where(Contractor.name == "明亮照明工程")
        )
    row = page.locator(f'tr[data-contractor="{lamps.id}"]').inner_text()
    assert "Sunshine Garden" in row and "+8613912345678" in row
    screenshot(page, "7-contractors")


def test_admin_creates_an_officer_who_needs_a_community(
    live_server, desktop, admin_user, demo, screenshot
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.click("nav.nav >> text=Administration")
    page.wait_for_selector("#communities")
    page.click("nav.subnav >> text=Users and roles")
    page.click("#new-user")
    page.fill("#username", "zhang")
    page.fill("#display_name", "张专干")
    page.select_option("#role", "officer")
    page.fill("#password", "a long password")
    page.click("#save")
    page.wait_for_selector("#communities-error")
    screenshot(page, "8-user-error")
    page.check("#communities input[type=checkbox]")
    page.fill("#password", "a long password")
    page.click("#save")
    page.wait_for_selector(".flash-ok")
    assert "张专干" in page.locator('tr[data-user="zhang"]').inner_text()
    screenshot(page, "9-users")
    page.click('tr[data-user="zhang"] >> text=Edit')
    page.wait_for_selector("#password-form")
    screenshot(page, "9-user")


def test_admin_shortens_the_sla_and_sees_the_categories(
    live_server, desktop, admin_user, demo, screenshot
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.click("nav.nav >> text=Administration")
    page.wait_for_selector("#communities")
    page.goto(f"{live_server}/board/admin/communities/{demo}/sla")
    page.fill("#triage", "20m")
    page.fill("#general_on_site", "3h")
    page.click("#save")
    page.wait_for_selector(".flash-ok")
    assert page.locator("#triage-effective").inner_text() == "20m"
    screenshot(page, "10-sla")

    page.click("nav.subnav >> text=Categories")
    page.wait_for_selector(".rowform.category")
    screenshot(page, "11-categories")


def test_officer_prints_stickers_for_their_community(
    app, live_server, desktop, officer, screenshot
):
    page = desktop
    _log_in(page, live_server, "officer", OFFICER_PASSWORD)
    page.click("nav.nav >> text=Stickers")
    page.wait_for_selector("h1")
    assert page.locator("nav.subnav").count() == 0
    screenshot(page, "stickers")
    with page.expect_download() as download:
        page.click("text=Every place (PDF)")
    assert download.value.suggested_filename == "stickers-yangguang.pdf"
