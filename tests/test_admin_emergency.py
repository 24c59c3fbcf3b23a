"""The administrator sets a community's emergency numbers and lists each entrance's
lifts, so the report form, the confirmation and the board name them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from repair.db import db
from repair.models import Community, Entrance, Lift
from tests.conftest import ADMIN_PASSWORD
from tests.factories import find_ticket
from tests.test_admin import AdminActions


@pytest.fixture
def admin(app, client, admin_user) -> AdminActions:
    actions = AdminActions(client)
    assert actions.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    return actions


def test_admin_sets_the_numbers_to_call_in_danger(app, admin, demo, entrance_code):
    page = f"/board/admin/communities/{demo}"
    form = admin.client.get(page).get_data(as_text=True)
    assert 'value="119"' in form and 'value="120"' in form
    admin.saves(
        page,
        name="阳光花园",
        slug="yangguang",
        ticket_prefix="YG",
        timezone="Asia/Shanghai",
        service_phone="0755-8888 6666",
        fire_phone="",
        police_phone="110",
        ambulance_phone="120",
        lift_emergency_phone="96333",
        gas_emergency_phone="0755-8333 3333",
    )
    with app.app_context():
        community = db.session.get(Community, demo)
        assert community.fire_phone == "119"  # empty falls back to the national one
        assert community.lift_emergency_phone == "96333"
        assert community.gas_emergency_phone == "0755-8333 3333"
    report_form = admin.client.get(f"/q/{entrance_code}").get_data(as_text=True)
    assert "tel:96333" in report_form and "tel:075583333333" in report_form


def test_admin_lists_a_lift_that_residents_then_name(
    app, admin, client, demo, entrance_code, resident
):
    places = f"/board/admin/communities/{demo}/places"
    with app.app_context():
        entrance_id = db.session.scalar(
            sa.select(Entrance.id).where(Entrance.code == entrance_code)
        )
    admin.refuses(f"/board/admin/entrances/{entrance_id}/lifts", places, name="")
    admin.saves(
        f"/board/admin/entrances/{entrance_id}/lifts",
        places,
        name="1号梯",
        certificate_number="31104403002019120001",
        emergency_phone="400-800-1234",
    )
    assert "1号梯（31104403002019120001）" in client.get(places).get_data(as_text=True)
    with app.app_context():
        lift = db.session.scalar(sa.select(Lift))
        lift_id = lift.id
    form = resident.open_form().get_data(as_text=True)
    assert f'id="lift-{lift_id}"' in form and "tel:4008001234" in form
    number = resident.report(description="电梯门关不上", lift=str(lift_id))
    with app.app_context():
        assert find_ticket(number).lift_id == lift_id
    # a lift that tickets name stays listed
    admin.post(f"/board/admin/lifts/{lift_id}/delete", places)
    with app.app_context():
        assert db.session.get(Lift, lift_id) is not None


def test_a_number_a_phone_cannot_dial_is_refused(app, admin, demo, entrance_code):
    # An outside tester saved the lift line as "九六三三三": the resident's page then
    # showed a button to tel: (nothing). Full-width digits are read as digits.
    page = f"/board/admin/communities/{demo}"
    fields = {
        "name": "阳光花园",
        "slug": "yangguang",
        "ticket_prefix": "YG",
        "timezone": "Asia/Shanghai",
        "service_phone": "0755-8888 6666",
        "fire_phone": "119",
        "police_phone": "110",
        "ambulance_phone": "120",
        "gas_emergency_phone": "",
    }
    for wrong in ("九六三三三", "call 96333", "12"):
        refused = admin.refuses(page, **fields, lift_emergency_phone=wrong)
        assert "请用数字填写号码" in refused
        assert wrong in refused  # what was typed stays in the field
    refused = admin.refuses(page, **{**fields, "fire_phone": "火警"})
    assert "请用数字填写号码" in refused
    # The summary at the top names the field and links to it: the community's
    # form is long, and "please correct the marked fields" left the admin to
    # scroll for the mark on a phone (outside tester).
    summary = refused[refused.index('id="form-errors"') :]
    summary = summary[: summary.index("</div>")]
    assert 'href="#fire_phone"' in summary and "火警" in summary, summary
    assert "电梯" not in summary
    admin.saves(page, **fields, lift_emergency_phone="９６３３３")
    with app.app_context():
        assert db.session.get(Community, demo).lift_emergency_phone == "96333"
    report_form = admin.client.get(f"/q/{entrance_code}").get_data(as_text=True)
    assert "tel:96333" in report_form
