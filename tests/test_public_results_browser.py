"""The public results page in headless Chromium, on a phone and a desktop."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from repair.db import db, utcnow
from repair.models import Rating, Ticket, TicketStatus
from tests.test_stats_browser import _seed_a_fortnight

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}


def _rate_and_publish(app) -> str:
    """Rates the repaired tickets and publishes one description; returns its number."""
    with app.app_context():
        done = db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.status == TicketStatus.COMPLETED)
            .order_by(Ticket.id)
        ).all()
        for index, ticket in enumerate(done):
            stars = (5, 4, 5, 2, 5)[index % 5]
            db.session.add(Rating(ticket_id=ticket.id, stars=stars, comment="谢谢"))
        done[0].made_public_at = utcnow()
        db.session.commit()
        return done[0].number


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_visitor_reads_the_months_results(
    app, client, officer, live_server, browser, screenshot, viewport
):
    _seed_a_fortnight(app, client)
    published = _rate_and_publish(app)
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
        device_scale_factor=2 if viewport == "phone" else 1,
        locale="zh-CN",
    )
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server}/p/yangguang")
    assert page.locator("h1").inner_text().endswith("维修结果")
    assert page.locator("#total-received").inner_text() == "12"
    # nothing wider than the screen: no sideways scrolling on a phone
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    chart = page.locator("#chart-categories")
    assert chart.is_visible() and chart.bounding_box()["width"] <= width
    rows = page.locator("#by-category tbody tr")
    assert rows.count() >= 2
    if viewport == "phone":  # each category is a card: the header row is hidden
        assert not page.locator("#by-category thead").is_visible()
    else:
        assert page.locator("#by-category thead").is_visible()
    said = page.locator(f"#repair-{published} .said")
    assert said.is_visible() and said.inner_text()
    assert errors == []  # the CSP let everything through that the page needs
    screenshot(page, f"{viewport}-zh")
    page.click("header .lang")
    page.wait_for_load_state()
    assert "Repair results" in page.locator("h1").inner_text()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    screenshot(page, f"{viewport}-en")
    svg = page.goto(f"{live_server}/p/yangguang/{utcnow():%Y-%m}/chart.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    context.close()
