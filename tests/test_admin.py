"""Administration: communities, places and QR codes, stickers, routing, contractors,
users and the SLA policy, through the real pages on a real database."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from dispatch.models import Route, SlaPolicy
from repair.db import db
from repair.models import (
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    EntranceCode,
    Role,
    User,
)
from tests.actions import OfficerActions, ResidentActions, make_other_community
from tests.conftest import ADMIN_PASSWORD, OFFICER_PASSWORD, PUBLIC_URL
from tests.factories import find_ticket

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"


class AdminActions(OfficerActions):
    """An administrator at the board's administration pages."""

    def post(self, path: str, form_page: str | None = None, **fields):
        """Posts fields with a CSRF token taken from form_page (default: path)."""
        data = {"csrf_token": self.csrf(form_page or path), **fields}
        return self.client.post(path, data=data)

    def saves(self, path: str, form_page: str | None = None, **fields):
        """Posts the form and asserts it was saved (a 303 onwards)."""
        response = self.post(path, form_page, **fields)
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        return response

    def refuses(self, path: str, form_page: str | None = None, **fields) -> str:
        """Posts the form, asserts it came back with its errors (a 422) and returns
        the page."""
        response = self.post(path, form_page, **fields)
        assert response.status_code == 422
        return response.get_data(as_text=True)


@pytest.fixture
def admin(app, client, admin_user) -> AdminActions:
    """An administrator, logged in (with the demo community seeded)."""
    actions = AdminActions(client)
    assert actions.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    return actions


def _one(model, *conditions):
    db.session.expire_all()
    return db.session.scalar(sa.select(model).where(*conditions))


def _text(response) -> str:
    return response.get_data(as_text=True)


def _entrance(building: str, entrance: str) -> Entrance:
    return _one(
        Entrance,
        Entrance.building_id == Building.id,
        Building.name == building,
        Entrance.name == entrance,
    )


def _pdf_text(response) -> str:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- Access ---------------------------------------------------------------------

ADMIN_PAGES = (
    "/board/admin",
    "/board/admin/communities/new",
    "/board/admin/categories",
    "/board/admin/contractors",
    "/board/admin/contractors/new",
    "/board/admin/users",
    "/board/admin/users/new",
)


def test_anonymous_visitors_are_sent_to_the_login(client, demo):
    for path in (*ADMIN_PAGES, "/board/admin/stickers"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/board/login" in response.headers["Location"]


def test_an_officer_may_not_administer(app, client, officer, demo):
    with app.app_context():
        entrance = _entrance("3栋", "2单元")
        pages = [
            *ADMIN_PAGES,
            f"/board/admin/communities/{demo}",
            f"/board/admin/communities/{demo}/places",
            f"/board/admin/communities/{demo}/routes",
            f"/board/admin/communities/{demo}/sla",
            f"/board/admin/entrances/{entrance.id}/rotate",
        ]
        code = entrance.code
    for path in pages:
        assert client.get(path).status_code == 403, path
    # the page says why, not only "this request could not be handled"
    refused = client.get(pages[0]).get_data(as_text=True)
    assert "您没有权限打开此页面" in refused and "联系管理员" in refused
    token = officer.csrf("/board")
    rotate = client.post(pages[-1], data={"csrf_token": token})
    assert rotate.status_code == 403
    with app.app_context():
        assert _entrance("3栋", "2单元").code == code
    nav = _text(client.get("/board"))
    assert 'href="/board/admin/stickers"' in nav
    assert 'href="/board/admin"' not in nav


def test_the_admin_sees_the_administration_link(admin, client):
    nav = _text(client.get("/board"))
    assert 'href="/board/admin"' in nav and 'href="/board/admin/stickers"' in nav
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


# --- Communities ----------------------------------------------------------------


def test_admin_creates_a_community_and_a_mistake_keeps_the_input(app, admin, client):
    path = "/board/admin/communities/new?lang=en"
    form = {
        "name": "绿城小区",
        "name_en": "Greentown",
        "slug": "lvcheng",
        "ticket_prefix": "L1",
        "timezone": "Mars/Olympus",
        "service_phone": "0571-8888 0000",
    }
    page = admin.refuses(path, **form)
    assert "Use 2 to 4 capital letters, e.g. YG." in page
    assert "Unknown time zone: use a name like Asia/Shanghai." in page
    assert 'value="Mars/Olympus"' in page and 'value="Greentown"' in page
    with app.app_context():
        assert _one(Community, Community.slug == "lvcheng") is None

    form.update(ticket_prefix="lc", timezone="Asia/Urumqi")
    response = admin.saves(path, **form)
    with app.app_context():
        community = _one(Community, Community.slug == "lvcheng")
        assert (community.ticket_prefix, community.timezone) == ("LC", "Asia/Urumqi")
        assert community.service_phone == "0571-8888 0000"
        assert response.headers["Location"].endswith(
            f"/board/admin/communities/{community.id}/places"
        )
        community_id = community.id
    assert "lvcheng" in _text(client.get("/board/admin"))

    # the slug and the prefix are unique across communities
    form.update(slug="yangguang", ticket_prefix="YG")
    page = admin.refuses(path, **form)
    assert "Another community already has this short name." in page
    assert "Another community already uses this prefix." in page

    edit = f"/board/admin/communities/{community_id}"
    response = admin.saves(
        edit, **{**form, "slug": "lvcheng", "ticket_prefix": "LC", "name": "绿城花园"}
    )
    with app.app_context():
        assert _one(Community, Community.id == community_id).name == "绿城花园"


# --- Buildings, entrances, QR codes ---------------------------------------------


def test_admin_adds_a_building_and_an_entrance_that_residents_can_use(
    app, admin, client, demo
):
    places = f"/board/admin/communities/{demo}/places"
    page = admin.refuses(
        f"/board/admin/communities/{demo}/buildings",
        places,
        name="",
        name_en="Building 4",
    )
    assert 'value="Building 4"' in page

    admin.saves(
        f"/board/admin/communities/{demo}/buildings",
        places,
        name="4栋",
        name_en="Building 4",
    )
    with app.app_context():
        building = _one(Building, Building.name == "4栋")
        assert building.community_id == demo and building.sort_order == 4
        building_id = building.id
    admin.saves(
        f"/board/admin/buildings/{building_id}/entrances",
        places,
        name="1单元",
        name_en="Entrance 1",
    )
    with app.app_context():
        entrance = _entrance("4栋", "1单元")
        code = entrance.code
        assert len(code) == 8 and db.session.get(EntranceCode, code) is not None
    page = _text(client.get(places))
    assert code in page and f"{PUBLIC_URL}/q/{code}" in page
    assert client.get(f"/q/{code}").status_code == 200

    admin.saves(
        f"/board/admin/entrances/{entrance.id}", places, name="东门", name_en="East"
    )
    with app.app_context():
        renamed = _one(Entrance, Entrance.id == entrance.id)
        assert (renamed.name, renamed.name_en, renamed.code) == ("东门", "East", code)
    page = admin.refuses(
        f"/board/admin/entrances/{entrance.id}", places, name=" ", name_en="Gate"
    )
    assert f'id="entrance-{entrance.id}-name-error"' in page
    assert 'value="Gate"' in page
    admin.saves(
        f"/board/admin/buildings/{building_id}", places, name="4号楼", name_en=""
    )
    with app.app_context():
        building = _one(Building, Building.id == building_id)
        assert (building.name, building.name_en) == ("4号楼", None)


def test_rotating_a_code_retires_the_old_sticker(app, admin, client, entrance_code):
    with app.app_context():
        entrance_id = _one(Entrance, Entrance.code == entrance_code).id
    path = f"/board/admin/entrances/{entrance_id}/rotate"
    confirm = client.get(path)
    assert confirm.status_code == 200
    assert entrance_code in _text(confirm) and 'id="confirm-rotate"' in _text(confirm)
    response = admin.saves(path)
    with app.app_context():
        entrance = _one(Entrance, Entrance.id == entrance_id)
        new_code = entrance.code
        assert new_code != entrance_code
        assert db.session.get(EntranceCode, entrance_code).retired_at is not None
    assert client.get(f"/q/{entrance_code}").status_code == 410
    assert client.get(f"/q/{new_code}").status_code == 200
    places = _text(client.get(response.headers["Location"]))
    assert new_code in places and f'data-code="{entrance_code}"' not in places
    # and a resident reports from the new sticker
    assert ResidentActions(client, new_code).report()


# --- Stickers -------------------------------------------------------------------


def test_admin_downloads_stickers_for_an_entrance_a_building_and_a_community(
    app, admin, client, demo, entrance_code
):
    with app.app_context():
        entrance = _one(Entrance, Entrance.code == entrance_code)
        building_id = entrance.building_id
        building_codes = [e.code for e in entrance.building.entrances]
        all_codes = db.session.scalars(sa.select(Entrance.code)).all()
        response = client.get(f"/board/admin/stickers/entrance/{entrance.id}.pdf")
    text = _pdf_text(response)
    assert f"{PUBLIC_URL}/q/{entrance_code}" in text
    assert (
        f"sticker-yangguang-{entrance_code}.pdf"
        in (response.headers["Content-Disposition"])
    )

    text = _pdf_text(client.get(f"/board/admin/stickers/building/{building_id}.pdf"))
    assert len(building_codes) == 2
    for code in building_codes:
        assert f"{PUBLIC_URL}/q/{code}" in text

    text = _pdf_text(client.get(f"/board/admin/stickers/community/{demo}.pdf"))
    assert len(all_codes) == 12  # 7 entrances and 5 common areas
    for code in all_codes:
        assert f"{PUBLIC_URL}/q/{code}" in text


def test_officers_print_their_own_stickers_but_not_another_communitys(
    app, client, officer, demo, entrance_code
):
    with app.app_context():
        entrance = _one(Entrance, Entrance.code == entrance_code)
        ours = [
            f"/board/admin/stickers/entrance/{entrance.id}.pdf",
            f"/board/admin/stickers/building/{entrance.building_id}.pdf",
            f"/board/admin/stickers/community/{demo}.pdf",
        ]
    page = _text(client.get("/board/admin/stickers"))
    assert all(path in page for path in ours)
    assert f"{PUBLIC_URL}/q/{entrance_code}" in _pdf_text(client.get(ours[0]))

    other = make_other_community(app)
    other_id, username = other.id, other.username
    other = OfficerActions(app.test_client())
    assert other.log_in(username, "another password").status_code == 302
    for path in ours:
        assert other.client.get(path).status_code == 404, path
    theirs = _text(other.client.get("/board/admin/stickers"))
    assert entrance_code not in theirs and "绿城小区" in theirs
    community_pdf = other.client.get(f"/board/admin/stickers/community/{other_id}.pdf")
    assert community_pdf.status_code == 200
    # and our officer cannot print theirs
    assert (
        client.get(f"/board/admin/stickers/community/{other_id}.pdf").status_code == 404
    )


# --- Categories and routing -----------------------------------------------------


def test_admin_renames_a_category(app, admin, client):
    with app.app_context():
        lighting = _one(Category, Category.slug == "lighting")
    path = f"/board/admin/categories/{lighting.id}"
    page = admin.refuses(
        path + "?lang=en", "/board/admin/categories", name="", name_en="Lamps"
    )
    assert "Enter the Chinese name." in page
    assert 'value="Lamps"' in page
    admin.saves(path, "/board/admin/categories", name="路灯", name_en="Lamps")
    with app.app_context():
        renamed = _one(Category, Category.id == lighting.id)
        assert (renamed.slug, renamed.name, renamed.name_en) == (
            "lighting",
            "路灯",
            "Lamps",
        )


@dataclass(frozen=True)
class Routing:
    """The demo community's routes page, with a lighting contractor added."""

    admin: AdminActions
    path: str
    lamps: int
    backup: int
    lighting: int
    building: int

    def save(self, category, building, primary, backup=""):
        """Posts a route: ids, or "" for every category, every building, no backup."""
        fields = dict(category=category, building=building, primary=primary)
        fields["backup"] = backup
        return self.admin.post(self.path, **{k: str(v) for k, v in fields.items()})


@pytest.fixture
def routing(app, admin, demo) -> Routing:
    admin.saves(
        "/board/admin/contractors/new",
        name="明亮照明工程",
        contact_name="刘师傅",
        phone="139 1234 5678",
        language="zh_CN",
        is_active="y",
        communities=str(demo),
    )
    with app.app_context():
        return Routing(
            admin,
            f"/board/admin/communities/{demo}/routes",
            lamps=_one(Contractor, Contractor.name == "明亮照明工程").id,
            backup=_one(Contractor, Contractor.phone == BACKUP).id,
            lighting=_one(Category, Category.slug == "lighting").id,
            building=_one(Building, Building.name == "3栋").id,
        )


def test_a_routes_backup_must_differ_from_its_primary(admin, routing):
    page = admin.refuses(
        routing.path + "?lang=en",
        routing.path,
        category=str(routing.lighting),
        building="",
        primary=str(routing.lamps),
        backup=str(routing.lamps),
    )
    assert "The backup must be a different contractor." in page
    # the summary links to the field as this form names it
    summary = page[page.index('id="form-errors"') :]
    assert 'href="#route-backup"' in summary[: summary.index("</div>")]
    assert f'<option selected value="{routing.lighting}">' in page


def test_a_category_route_takes_that_categorys_reports(app, routing, resident):
    response = routing.save(routing.lighting, "", routing.lamps, routing.backup)
    assert response.status_code == 303
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        assert find_ticket(number).contractor_id == routing.lamps
        assert find_ticket(number).category.slug == "lighting"
        route = _one(Route, Route.category_id == routing.lighting)
        assert route.backup_contractor_id == routing.backup
    # other categories still take the default route
    number = resident.report(description="电梯困人了")
    with app.app_context():
        assert find_ticket(number).contractor.phone == PRIMARY


def test_a_building_route_is_more_specific_than_a_category_route(
    app, routing, resident
):
    routing.save(routing.lighting, "", routing.lamps, routing.backup)
    response = routing.save(routing.lighting, routing.building, routing.backup)
    assert response.status_code == 303
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        assert find_ticket(number).contractor_id == routing.backup


def test_saving_a_scope_again_replaces_its_route(app, client, demo, routing):
    routing.save(routing.lighting, "", routing.lamps, routing.backup)
    routing.save(routing.lighting, routing.building, routing.backup)
    routing.save(routing.lighting, routing.building, routing.lamps)
    with app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count(Route.id)).where(Route.community_id == demo)
        )
        # the default, the demo garden's greenery, lighting, lighting in building 3
        assert count == 4
        assert _one(
            Route, Route.building_id == routing.building
        ).primary_contractor_id == (routing.lamps)
    contractors = _text(client.get("/board/admin/contractors"))
    row = contractors.split(f'data-contractor="{routing.lamps}"')[1].split("</tr>")[0]
    assert row.count(routing.path) == 2


def test_deleting_routes_sends_reports_back_to_the_default_route(
    app, admin, routing, resident
):
    routing.save(routing.lighting, "", routing.lamps, routing.backup)
    routing.save(routing.lighting, routing.building, routing.backup)
    with app.app_context():
        route_ids = [
            _one(
                Route,
                Route.category_id == routing.lighting,
                Route.building_id.is_(None),
            ).id,
            _one(Route, Route.building_id == routing.building).id,
        ]
    for route_id in route_ids:
        admin.saves(f"/board/admin/routes/{route_id}/delete", routing.path)
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        assert find_ticket(number).contractor.phone == PRIMARY
        assert all(db.session.get(Route, i) is None for i in route_ids)


# --- Contractors ----------------------------------------------------------------


def test_admin_adds_and_edits_a_contractor(app, admin, client, demo):
    path = "/board/admin/contractors/new?lang=en"
    page = admin.refuses(
        path,
        name="明亮照明工程",
        contact_name="刘师傅",
        phone="12345",
        language="zh_CN",
    )
    assert "Please enter a valid phone number" in page
    assert 'value="明亮照明工程"' in page and 'value="12345"' in page

    page = admin.refuses(path, name="重复", phone=PRIMARY, language="zh_CN")
    assert "Another contractor already has this number." in page

    # the job links go by SMS: an office landline would never get one
    page = admin.refuses(
        path, name="座机公司", phone="0755-8888 6666", language="zh_CN"
    )
    assert "This number cannot receive SMS" in page and 'value="0755-8888 6666"' in page

    page = admin.refuses(path, name="Bright Lights Ltd", phone="+447911123456")
    assert "Choose the communities this contractor serves." in page

    admin.saves(
        path,
        name="Bright Lights Ltd",
        phone="+44 7911 123456",
        language="en",
        communities=str(demo),
    )
    with app.app_context():
        added = _one(Contractor, Contractor.name == "Bright Lights Ltd")
        assert (added.phone, added.language, added.is_active) == (
            "+447911123456",
            "en",
            False,  # the box was not ticked
        )
        assert added.contact_name is None
    edit = f"/board/admin/contractors/{added.id}"
    assert "Bright Lights Ltd" in _text(client.get(edit))
    admin.saves(
        edit,
        name="Bright Lights",
        contact_name="Sam",
        phone="+447911123456",
        language="en",
        is_active="y",
        communities=str(demo),
    )
    with app.app_context():
        edited = _one(Contractor, Contractor.id == added.id)
        assert (edited.name, edited.contact_name, edited.is_active) == (
            "Bright Lights",
            "Sam",
            True,
        )
    listing = _text(client.get("/board/admin/contractors"))
    assert "Bright Lights" in listing and "+447911123456" in listing


# --- Users ----------------------------------------------------------------------


def test_admin_creates_an_officer_who_can_log_in_until_disabled(
    app, admin, client, demo
):
    path = "/board/admin/users/new?lang=en"
    page = admin.refuses(
        path,
        username="zhang",
        display_name="张专干",
        role="officer",
        phone="13900001111",
        password="short",
    )
    assert "The password needs at least 8 characters." in page
    assert "Officers and supervisors need at least one community." in page
    assert 'value="zhang"' in page and 'value="张专干"' in page

    admin.saves(
        path,
        username="zhang",
        display_name="张专干",
        role="officer",
        phone="13900001111",
        password="a long password",
        communities=[str(demo)],
    )
    with app.app_context():
        user = _one(User, User.username == "zhang")
        assert user.role is Role.OFFICER and user.phone == "+8613900001111"
        assert [c.id for c in user.communities] == [demo]
        user_id = user.id
    page = admin.refuses(path, username="zhang", role="admin", password="x" * 9)
    assert "This username is taken." in page

    zhang = OfficerActions(app.test_client())
    assert zhang.log_in("zhang", "a long password").status_code == 302
    assert zhang.client.get("/board").status_code == 200

    # disabling ends the open session and refuses the next login
    admin.saves(f"/board/admin/users/{user_id}/disable", "/board/admin/users")
    assert zhang.client.get("/board").status_code == 302
    assert zhang.log_in("zhang", "a long password").status_code == 200
    with app.app_context():
        assert _one(User, User.id == user_id).is_active is False

    admin.post(f"/board/admin/users/{user_id}/enable", "/board/admin/users")
    assert zhang.log_in("zhang", "a long password").status_code == 302


def test_admin_changes_a_role_and_resets_a_password(app, admin, client, demo):
    with app.app_context():
        officer_id = _one(User, User.username == "officer").id
    path = f"/board/admin/users/{officer_id}"
    admin.saves(path, display_name="李主任", role="supervisor", communities=[str(demo)])
    with app.app_context():
        changed = _one(User, User.id == officer_id)
        assert (changed.role, changed.display_name) == (Role.SUPERVISOR, "李主任")

    page = admin.refuses(f"{path}/password?lang=en", path, password="short")
    assert "The password needs at least 8 characters." in page
    admin.saves(f"{path}/password", path, password="a brand new password")
    other = OfficerActions(app.test_client())
    assert other.log_in("officer", OFFICER_PASSWORD).status_code == 200
    assert other.log_in("officer", "a brand new password").status_code == 302


def test_an_admin_cannot_disable_or_demote_themselves(app, admin, client):
    with app.app_context():
        me = _one(User, User.username == "root").id
    admin.saves(f"/board/admin/users/{me}/disable", "/board/admin/users")
    with app.app_context():
        assert _one(User, User.id == me).is_active is True
    assert client.get("/board/admin").status_code == 200
    page = admin.refuses(f"/board/admin/users/{me}?lang=en", role="officer")
    assert "You cannot take the administrator role from yourself." in page
    with app.app_context():
        assert _one(User, User.id == me).role is Role.ADMIN


# --- SLA policy -----------------------------------------------------------------


def test_sla_policy_edits_change_the_next_tickets_deadlines(
    app, admin, client, demo, resident
):
    path = f"/board/admin/communities/{demo}/sla"
    page = _text(client.get(path))
    assert 'id="triage-effective">1h<' in page
    assert 'id="general_on_site-effective">24h<' in page

    page = admin.refuses(
        path + "?lang=en",
        path,
        triage="soon",
        urgent_contact="10m",
        urgent_on_site="",
        general_on_site="3h",
    )
    assert "Write a duration like 45s, 30m or 2h." in page
    assert 'value="soon"' in page and 'value="3h"' in page
    with app.app_context():
        assert db.session.get(SlaPolicy, demo) is None

    admin.saves(
        path,
        triage="20m",
        urgent_contact="10m",
        urgent_on_site="",
        general_on_site="3h",
    )
    page = _text(client.get(path))
    assert 'id="triage-effective">20m<' in page
    assert 'id="urgent_on_site-effective">2h<' in page

    general = resident.report(description="楼道灯不亮")
    urgent = resident.report(description="电梯坏了，停在5楼不动了")
    with app.app_context():
        ticket = find_ticket(general)
        assert ticket.triage_due_at - ticket.created_at == timedelta(minutes=20)
        assert ticket.on_site_due_at - ticket.created_at == timedelta(hours=3)
        assert ticket.contact_due_at is None
        ticket = find_ticket(urgent)
        assert ticket.contact_due_at - ticket.created_at == timedelta(minutes=10)
        assert ticket.on_site_due_at - ticket.created_at == timedelta(hours=2)

    # emptying the fields returns to the global settings
    admin.saves(
        path, triage="", urgent_contact="", urgent_on_site="", general_on_site=""
    )
    general = resident.report(description="2楼楼道灯不亮")
    with app.app_context():
        ticket = find_ticket(general)
        assert ticket.triage_due_at - ticket.created_at == timedelta(hours=1)
        assert ticket.on_site_due_at - ticket.created_at == timedelta(hours=24)


HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/board/admin/contractors/{HUGE}"),
        ("get", f"/board/admin/users/{HUGE}"),
        ("get", f"/board/admin/communities/{HUGE}/places"),
        ("get", f"/board/admin/stickers/entrance/{HUGE}.pdf"),
        ("post", f"/board/admin/entrances/{HUGE}/retire"),
        ("post", f"/board/admin/buildings/{HUGE}/entrances"),
        ("post", f"/board/admin/users/{HUGE}/disable"),
        ("post", f"/board/t/YG-20260101-0001/follow-up/{HUGE}"),
    ],
)
def test_an_id_past_the_databases_integers_is_not_found(client, admin, method, path):
    """Found by the outside tester: an OverflowError in the driver, a 500."""
    if method == "get":
        response = client.get(path)
    else:  # with a valid token: the route itself must answer
        response = admin.post(path, "/board/admin/contractors")
    assert response.status_code == 404, response.status_code


def test_an_sla_duration_past_what_a_timedelta_holds_is_refused(client, admin, demo):
    """Found by the fuzz test on PostgreSQL: "1180591620717411303424" (seconds) was
    an OverflowError, a 500, not a message."""
    path = f"/board/admin/communities/{demo}/sla"
    page = admin.refuses(
        path + "?lang=en",
        path,
        triage="",
        urgent_contact="",
        urgent_on_site="1180591620717411303424",
        general_on_site="",
    )
    assert "Write a duration like 45s, 30m or 2h." in page


def test_parse_duration_says_value_error_for_any_bad_duration():
    from repair.config import parse_duration

    for bad in ("1180591620717411303424", "9" * 400 + "d", "soon"):
        with pytest.raises(ValueError):
            parse_duration(bad)
