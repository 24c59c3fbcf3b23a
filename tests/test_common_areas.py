"""Common areas (公共区域): places of a community in no building — a gate, the car
park, the playground — with a sticker, a landing page, their own routes, and a
line of their own in the statistics and the public results."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from pypdf import PdfReader

from dispatch.integrations.places import match_place
from dispatch.models import Route
from repair.db import db
from repair.models import Building, Category, Contractor, Entrance, PlaceKind
from tests.actions import ContractorActions, ResidentActions
from tests.conftest import ADMIN_PASSWORD
from tests.factories import find_ticket
from tests.test_admin import AdminActions
from tests.test_public_results import T0, _link
from tests.test_stats import _table
from tests.test_stickers import page_images, scan

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
DEMO_AREAS = ["北门", "地下车库", "儿童游乐场", "垃圾分类点", "中心花园"]


@pytest.fixture
def admin(app, client, admin_user) -> AdminActions:
    """An administrator, logged in (with the demo community seeded)."""
    actions = AdminActions(client)
    assert actions.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    return actions


def _area(name: str) -> Entrance:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(Entrance).where(
            Entrance.kind == PlaceKind.COMMON_AREA, Entrance.name == name
        )
    )


def test_the_demo_has_its_common_areas_with_stickers_and_a_garden_route(app, demo):
    with app.app_context():
        areas = db.session.scalars(
            sa.select(Entrance)
            .where(Entrance.kind == PlaceKind.COMMON_AREA)
            .order_by(Entrance.sort_order)
        ).all()
        assert [a.name for a in areas] == DEMO_AREAS
        assert all(a.community_id == demo and a.building_id is None for a in areas)
        assert all(re.fullmatch(r"[2-9a-z]{8}", a.code) for a in areas)
        assert areas[0].label("zh_CN") == "阳光花园 北门"
        assert areas[0].label("en") == "Sunshine Garden, North gate"
        garden_route = db.session.scalar(
            sa.select(Route).where(Route.entrance_id == _area("中心花园").id)
        )
        assert garden_route.primary.phone == BACKUP
        assert db.session.get(Category, garden_route.category_id).slug == "greenery"


def test_a_common_area_from_sticker_to_report_to_route_to_statistics(
    app, client, demo, admin, admin_user
):
    # The admin adds the east gate and renames it.
    places = f"/board/admin/communities/{demo}/places"
    admin.saves(
        f"/board/admin/communities/{demo}/common-areas",
        places,
        name="东门",
        name_en="East gate",
    )
    with app.app_context():
        gate = _area("东门")
        gate_id, community_id = gate.id, gate.community_id
        assert (gate.building_id, gate.community_id) == (None, demo)
    admin.saves(
        f"/board/admin/entrances/{gate_id}",
        places,
        name="东大门",
        name_en="East gate",
        sort_order="9",
    )
    page = client.get(places).get_data(as_text=True)
    assert f'id="entrance-{gate_id}"' in page and "东大门" in page

    # Its sticker prints and scans to its own landing page.
    response = client.get(f"/board/admin/stickers/entrance/{gate_id}.pdf")
    assert response.status_code == 200
    pdf = response.get_data()
    assert "阳光花园 东大门" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    [url] = [b.text for b in scan(page_images(pdf)[0])]
    with app.app_context():
        assert url.endswith(f"/q/{db.session.get(Entrance, gate_id).code}")
    code = url.rsplit("/q/", 1)[1]

    # The landing page names the community and the place, and no building.
    landing = client.get(f"/q/{code}").get_data(as_text=True)
    heading = re.search(r'<h1 class="place" id="place">([^<]+)</h1>', landing)
    assert heading.group(1) == "阳光花园 东大门"
    assert "栋" not in heading.group(1)
    assert 'id="place-kind"' in landing

    # The gate's own greenery route wins over the community's default route.
    admin.saves(
        f"/board/admin/communities/{demo}/routes",
        building=f"place-{gate_id}",
        category=str(_category_id(app, "greenery")),
        primary=str(_contractor_id(app, BACKUP)),
        backup="",
    )
    routes = client.get(f"/board/admin/communities/{demo}/routes").get_data(
        as_text=True
    )
    assert "东大门" in routes
    with freeze_time(T0) as clock:
        resident = ResidentActions(client, code)
        green = resident.report(
            description="门口绿化带的树倒了，挡住路",
            spot="东门绿化带",
            category="greenery",
        )
        light = resident.report(
            description="门口路灯不亮", spot="东门岗亭", category="lighting"
        )
        with app.app_context():
            ticket = find_ticket(green)
            assert ticket.entrance_id == gate_id
            assert ticket.community_id == community_id
            assert ticket.contractor.phone == BACKUP  # the gate's own route
            assert find_ticket(light).contractor.phone == PRIMARY  # the default

        # The gate's contractor repairs it: the public results list it by name.
        contractor = ContractorActions(client, BACKUP)
        link = _link(app, green)
        clock.tick(600)
        contractor.tap(link, "accept")
        clock.tick(600)
        contractor.tap(link, "arrive")
        clock.tick(600)
        assert contractor.complete(link, worker_name="赵师傅").status_code == 303
        clock.tick(600)

        # The statistics count the gate as a place of its own.
        assert admin.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
        stats = client.get("/board/stats?lang=en").get_data(as_text=True)
        assert _table(stats, "by-building") == {"East gate": 2}
        stats_zh = client.get("/board/stats?lang=zh_CN").get_data(as_text=True)
        assert _table(stats_zh, "by-building") == {"东大门": 2}
        public = app.test_client().get("/p/yangguang/2026-03?lang=zh_CN")
        repair = (
            public.get_data(as_text=True)
            .split(f'id="repair-{green}"')[1]
            .split("</li>")[0]
        )
        assert "东大门" in repair and "栋" not in repair

        # The board filters by the common area too.
        board = client.get(f"/board?building=place-{gate_id}").get_data(as_text=True)
        assert light in board
        assert f'value="place-{gate_id}" selected' in board
        other = client.get("/board?building=place-1").get_data(as_text=True)
        assert light not in other


def test_a_retired_common_area_takes_no_reports_and_prints_no_sticker(
    app, client, demo, admin
):
    with app.app_context():
        area = _area("儿童游乐场")
        area_id, code = area.id, area.code
    places = f"/board/admin/communities/{demo}/places"
    number = ResidentActions(client, code).report(
        description="滑梯断了一块", spot="滑梯", category="other"
    )
    admin.saves(f"/board/admin/entrances/{area_id}/retire", places, retire="1")
    # A second tap (or two at once) retires it still: no toggle.
    admin.saves(f"/board/admin/entrances/{area_id}/retire", places, retire="1")

    page = client.get(f"/q/{code}?lang=en")
    assert page.status_code == 410
    assert "This place takes no reports any more" in page.get_data(as_text=True)
    assert (
        client.get(f"/board/admin/stickers/entrance/{area_id}.pdf").status_code == 404
    )
    sheet = client.get(f"/board/admin/stickers/community/{demo}/common-areas.pdf")
    text = PdfReader(io.BytesIO(sheet.get_data())).pages[0].extract_text()
    assert "北门" in text and "儿童游乐场" not in text
    with app.app_context():
        # Its ticket stays, and so does its line in the records.
        assert find_ticket(number).entrance_id == area_id
        assert db.session.get(Entrance, area_id).retired_at is not None

    admin.saves(f"/board/admin/entrances/{area_id}/retire", places, retire="0")
    admin.saves(f"/board/admin/entrances/{area_id}/retire", places, retire="0")
    assert client.get(f"/q/{code}").status_code == 200


def test_a_building_entrance_is_not_retired_by_a_crafted_post(app, client, demo, admin):
    """Found by the outside tester: the admin page offers no retire button for an
    entrance, yet a crafted post retired it without a sign on that page."""
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.kind == PlaceKind.ENTRANCE).limit(1)
        )
        entrance_id, code = entrance.id, entrance.code
    places = f"/board/admin/communities/{demo}/places"
    response = admin.post(
        f"/board/admin/entrances/{entrance_id}/retire", places, retire="1"
    )
    assert response.status_code == 404
    assert client.get(f"/q/{code}").status_code == 200


def test_a_common_area_needs_a_name(app, client, demo, admin):
    page = admin.refuses(
        f"/board/admin/communities/{demo}/common-areas?lang=en",
        f"/board/admin/communities/{demo}/places",
        name="",
    )
    assert 'id="common-new-name"' in page
    with app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count(Entrance.id)).where(
                Entrance.kind == PlaceKind.COMMON_AREA
            )
        )
        assert count == len(DEMO_AREAS)


def test_hotline_place_text_finds_a_common_area(app, demo):
    with app.app_context():
        found, score = match_place("阳光花园 地下车库 B2层", [demo], 0.7)
        assert found is not None and found.name == "地下车库"
        assert score == 1.0
        # A building's entrance is still found by building and entrance.
        found, _ = match_place("阳光花园3栋2单元", [demo], 0.7)
        assert (found.building.name, found.name) == ("3栋", "2单元")


def _category_id(app, slug: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Category.id).where(Category.slug == slug))


def _contractor_id(app, phone: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == phone)
        )


def test_an_entrance_given_only_its_building_id_is_in_that_community(app, demo):
    with app.app_context():
        building = db.session.scalar(sa.select(Building).where(Building.name == "2栋"))
        entrance = Entrance(building_id=building.id, name="9单元", code="zzzz9999")
        db.session.add(entrance)
        db.session.flush()
        assert entrance.community_id == demo
        assert entrance.kind == PlaceKind.ENTRANCE
        assert entrance.label("zh_CN") == "阳光花园 2栋 9单元"
        db.session.rollback()
