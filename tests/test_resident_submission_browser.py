"""In Chromium: the photo goes at the display size, the page shows a placeholder
until the photo job has run, then the photo."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Photo
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.browser


def test_report_shows_the_placeholder_then_the_photo(
    app, live_server, entrance_code, phone, jobs, screenshot, tmp_path
):
    photo = tmp_path / "stairwell.jpg"
    photo.write_bytes(jpeg_bytes(size=(4032, 3024), gps=True))
    phone.goto(f"{live_server}/q/{entrance_code}")
    phone.set_input_files("#photo-library", str(photo))
    phone.fill("#description", "扶手松动，老人上下楼很危险")
    phone.click("#submit")
    phone.wait_for_url(re.compile(r"/t/YG-\d{8}-\d{4}/received$"))
    phone.click("#track-link")
    phone.wait_for_load_state()

    thumb = phone.locator(".thumbs img").first
    pending = phone.request.get(live_server + thumb.get_attribute("src"))
    assert pending.headers["content-type"].startswith("image/svg+xml")
    assert "照片处理中" in pending.text()
    screenshot(phone, "1-placeholder")

    jobs.run_due()
    phone.reload()
    thumb = phone.locator(".thumbs img").first
    ready = phone.request.get(live_server + thumb.get_attribute("src"))
    assert ready.headers["content-type"] == "image/jpeg"
    phone.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    screenshot(phone, "2-photo")
    with app.app_context():
        stored = db.session.scalar(sa.select(Photo))
        # report.js sent the display size: the longest side is 1600 px.
        assert (stored.state, max(stored.width, stored.height)) == ("ready", 1600)
