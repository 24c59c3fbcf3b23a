"""Common areas in Chromium: a resident at the central garden's sticker on a phone,
and the administrator adding, retiring and printing common areas at a desk."""

from __future__ import annotations

import re
import subprocess

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Entrance, PlaceKind, Ticket
from tests.conftest import ADMIN_PASSWORD
from tests.test_admin_browser import _log_in

pytestmark = pytest.mark.browser

RECEIVED = re.compile(r"/t/YG-\d{8}-\d{4}/received$")
BACKUP = "+8613800000002"


@pytest.fixture
def desktop(browser):
    """A desktop-sized page (1280×800) in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def _area(app, name: str) -> Entrance:
    with app.app_context():
        db.session.expire_all()
        area = db.session.scalar(
            sa.select(Entrance).where(
                Entrance.kind == PlaceKind.COMMON_AREA, Entrance.name == name
            )
        )
        db.session.expunge(area)
        return area


def test_a_resident_reports_at_the_gardens_sticker_on_a_phone(
    app, live_server, demo, phone, screenshot
):
    garden = _area(app, "中心花园")
    phone.goto(f"{live_server}/q/{garden.code}")
    assert phone.inner_text("#place") == "阳光花园 中心花园"
    assert phone.inner_text("#place-kind") == "公共区域"
    # Nothing on the page is wider than the phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "1-landing")
    phone.fill("#description", "花园里一棵大树的树枝断了，悬在步道上方")
    phone.fill("#spot", "中心花园东侧步道")
    phone.click('label[for="cat-greenery"]')
    phone.click("#submit")
    phone.wait_for_url(RECEIVED)
    screenshot(phone, "2-received")
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.entrance_id == garden.id
        assert ticket.category.slug == "greenery"
        assert ticket.contractor.phone == BACKUP  # the garden's own route


def test_admin_adds_retires_and_prints_common_areas(
    app, live_server, desktop, admin_user, demo, screenshot, tmp_path
):
    page = desktop
    _log_in(page, live_server, admin_user, ADMIN_PASSWORD)
    page.goto(f"{live_server}/board/admin/communities/{demo}/places?lang=en")
    page.wait_for_selector("#common-areas")
    page.fill("#common-new-name", "东门")
    page.fill("#common-new-name-en", "East gate")
    page.click("#add-common-area button")
    page.wait_for_selector(".flash-ok")
    gate = _area(app, "东门")
    assert gate.building_id is None
    row = page.locator(f"#entrance-{gate.id}")
    assert row.locator(".entrance-code").inner_text() == gate.code

    playground = _area(app, "儿童游乐场")
    page.click(f"#retire-{playground.id}")
    page.wait_for_selector(".flash-ok")
    assert "Retired" in page.locator(f"#entrance-{playground.id}").inner_text()
    page.locator("#common-areas").scroll_into_view_if_needed()
    screenshot(page, "1-places")

    with page.expect_download() as download:
        page.click("#common-areas-stickers")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "stickers-yangguang-common-areas.pdf"
    # As it prints: the first page as an image, kept beside the screenshots.
    png = screenshot(page, "2-places-again").with_name(
        "test_admin_adds_retires_and_prints_common_areas-3-sticker-sheet"
    )
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(saved),
            str(png),
        ],
        check=True,
    )
    text = subprocess.run(
        ["pdftotext", str(saved), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "阳光花园 东门" in text and "阳光花园 北门" in text
    assert "儿童游乐场" not in text

    page.goto(f"{live_server}/board/admin/communities/{demo}/routes?lang=en")
    options = page.locator("#route-building option").all_inner_texts()
    assert "East gate" in options and "Central garden" in options
    assert "Children's playground" not in options  # retired
    screenshot(page, "4-routes")
