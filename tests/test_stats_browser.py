"""The statistics page in headless Chromium at desktop and tablet sizes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from repair.db import db, utcnow
from repair.models import Entrance
from tests.actions import (
    ContractorActions,
    OfficerActions,
    ResidentActions,
    officer_at_desk,
)
from tests.conftest import OFFICER_PASSWORD
from tests.factories import find_ticket
from tests.test_stats import _link

pytestmark = pytest.mark.browser

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
VIEWPORTS = {"desktop": (1280, 800), "tablet": (820, 1180)}
#: (what the resident writes, minutes to accept, minutes on to arrive, declined?)
REPORTS = [
    ("电梯困人了", 10, 40, False),
    ("楼道灯不亮", 30, 300, False),
    ("水管爆裂，一直在漏水", 20, 90, False),
    ("单元门门禁坏了，刷卡没反应", 60, 1600, False),
    ("路面有个大坑", None, None, False),
    ("下水道堵了，污水漫出来", 15, 200, True),
    ("楼道灯不亮了", 45, 600, False),
    ("电梯门关不上", 35, 150, False),
    ("消防栓箱门掉了", 120, 1000, False),
    ("楼道灯一闪一闪", 25, 180, False),
    ("绿化带的树枝快断了", None, None, False),
    ("外墙瓷砖掉落", 5, 70, False),
]


def _seed_a_fortnight(app, client):
    """Reports a dozen tickets over the last two weeks and works most of them."""
    with app.app_context():
        codes = db.session.scalars(sa.select(Entrance.code).order_by(Entrance.id)).all()
    officer = OfficerActions(client)
    start = utcnow() - timedelta(days=13)
    with freeze_time(start) as clock:
        assert officer.log_in("officer", OFFICER_PASSWORD).status_code == 302
        for index, (text, accept, arrive, declined) in enumerate(REPORTS):
            clock.move_to(start + timedelta(hours=25 * index))
            resident = ResidentActions(client, codes[index % len(codes)])
            number = resident.report(description=text)
            if index % 4 != 3:
                clock.tick(timedelta(minutes=20 + 30 * (index % 3)))
                with app.app_context():
                    # the officer agrees with the classifier
                    ticket = find_ticket(number)
                    kind = (ticket.urgency.value, ticket.category.slug)
                officer.act(number, "triage", urgency=kind[0], category=kind[1])
            if accept is None:
                continue
            phone = PRIMARY
            if declined:
                ContractorActions(client, PRIMARY).tap(
                    _link(app, number), "decline", reason="busy"
                )
                phone = BACKUP
            contractor = ContractorActions(client, phone)
            clock.tick(timedelta(minutes=accept))
            contractor.tap(_link(app, number), "accept")
            clock.tick(timedelta(minutes=arrive))
            contractor.tap(_link(app, number), "arrive")
            if index % 3 != 2:
                clock.tick(timedelta(minutes=50))
                contractor.complete(_link(app, number), worker_name="王师傅")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_officer_opens_statistics_and_downloads_the_csv(
    app, client, officer, live_server, browser, screenshot, viewport
):
    _seed_a_fortnight(app, client)
    width, height = VIEWPORTS[viewport]
    context, page = officer_at_desk(
        browser,
        live_server,
        "/board/login?next=/board/stats",
        wait_for="#sla",
        size=(width, height),
        accept_downloads=True,
    )
    try:
        assert page.locator("#total-tickets").inner_text() == str(len(REPORTS))
        assert page.locator("svg.chart").count() == 3
        for chart in ("category", "building", "contractor"):
            box = page.locator(f"#chart-{chart}").bounding_box()
            assert box["width"] > 250 and box["height"] > 20
        assert page.locator("#scorecard tbody tr").count() == 2
        assert page.locator("#satisfaction").is_visible()
        no_overflow = "document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_overflow)
        screenshot(page, f"{viewport}-1-statistics")

        page.locator("#by-building summary").click()
        assert page.locator("#by-building table").is_visible()

        with page.expect_download() as download:
            page.click("#download-csv")
        text = download.value.path().read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == len(REPORTS)
        assert download.value.suggested_filename.endswith(".csv")

        page.select_option("#community", index=1)
        page.click("#stats-form button[type=submit]")
        page.wait_for_selector("#sla")
        assert "community=" in page.url
        screenshot(page, f"{viewport}-2-one-community")
    finally:
        context.close()
