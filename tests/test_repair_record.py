"""The repair record: materials, labour and cost on completion, in the statistics
and the CSV; arrival evidence (a photo of the place, or why not; a location only
with a community's opt-in and the contractor's consent)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import Assignment
from repair import privacy
from repair.db import db
from repair.models import (
    Category,
    Community,
    Contractor,
    Photo,
    RepairMaterial,
    Ticket,
    TicketStatus,
)
from repair.money import line_amount, parse_decimal, quantity_text, yuan
from tests.actions import ContractorActions, hidden_fields
from tests.conftest import OFFICER_PASSWORD
from tests.factories import find_ticket, jpeg_bytes

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RANGE = "from=2026-03-02&to=2026-03-05"

#: Two lines and labour: 2.5 m × 12.34 = 30.85 (half up from 30.85), 3 × 0.335 →
#: 0.34 × 3 = 1.02; labour 80.00; total 111.87.
LINES = {
    "material_name": ["PPR 水管", "膨胀螺丝 M8"],
    "material_quantity": ["2.5", "3"],
    "material_unit": ["米", "个"],
    "material_price": ["12.34", "0.34"],
    "labour_hours": "1.5",
    "labour_cost": "80",
}


@pytest.fixture
def contractor(client) -> ContractorActions:
    return ContractorActions(client, PRIMARY)


def _job(app, number: str) -> str:
    """Returns the job link of the ticket's current assignment."""
    from dispatch.contractor.tokens import job_token

    with app.app_context():
        assignment = db.session.scalar(
            sa.select(Assignment)
            .join(Ticket)
            .where(Ticket.number == number, Assignment.ended_at.is_(None))
        )
        return f"/j/{job_token(assignment.id)}"


def _page(client, path: str) -> str:
    return client.get(path).get_data(as_text=True)


# --- money, exactly -------------------------------------------------------------


def test_money_is_exact_integers_rounded_half_up():
    assert parse_decimal("12.5") == parse_decimal("１２．５")  # full-width keyboard
    assert parse_decimal("12。50") is not None
    for bad in ("", "-1", "1e5", "1.234", "abc", "1,5,0", "NaN", "Infinity", "1" * 13):
        assert parse_decimal(bad) is None, bad
    assert line_amount(250, 1234) == 3085  # 2.5 × 12.34
    assert line_amount(50, 1) == 1  # 0.5 fen rounds up
    assert line_amount(49, 1) == 0
    assert line_amount(333, 333) == 1109  # 3.33 × 3.33 = 11.0889
    assert yuan(11187) == "111.87" and yuan(5) == "0.05" and yuan(None) == ""
    assert quantity_text(250) == "2.5" and quantity_text(300) == "3"


# --- the record on completion ---------------------------------------------------


def test_contractor_records_materials_labour_and_the_total(
    app, client, resident, contractor, officer
):
    number = resident.report(description="楼道水管漏水", phone="13912345678")
    link = _job(app, number)
    contractor.tap(link, "accept")
    response = contractor.complete(link, worker_name="王师傅", **LINES)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.COMPLETED
        lines = [
            (m.name, m.quantity_hundredths, m.unit, m.unit_price_fen, m.amount_fen)
            for m in ticket.materials
        ]
        assert lines == [
            ("PPR 水管", 250, "米", 1234, 3085),
            ("膨胀螺丝 M8", 300, "个", 34, 102),
        ]
        assert (ticket.labour_minutes, ticket.labour_cost_fen) == (90, 8000)
        assert (ticket.materials_cost_fen, ticket.total_cost_fen) == (3187, 11187)
        complete = next(e for e in ticket.events if e.action == "complete")
        assert complete.data["total_cost_fen"] == 11187
        assert [m["amount_fen"] for m in complete.data["materials"]] == [3085, 102]
        assert {m.event_id for m in ticket.materials} == {complete.id}
    board = _page(client, f"/board/t/{number}")
    record = board[board.index('id="repair-record"') :]
    assert "PPR 水管" in record and "2.5 米" in record and "¥12.34" in record
    assert re.search(r'id="total-cost">¥111\.87<', record)
    assert re.search(r'id="labour-time">1\.5 小时<', record)
    assert re.search(r'id="materials-cost">¥31\.87<', record)


def test_a_repair_without_materials_costs_its_labour(app, resident, contractor):
    number = resident.report(description="楼道灯不亮")
    link = _job(app, number)
    contractor.tap(link, "accept")
    fields = {"labour_hours": "0.25", "labour_cost": ""}  # labour cost: none
    assert contractor.complete(link, worker_name="王师傅", **fields).status_code == 303
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.materials == []
        assert (ticket.labour_minutes, ticket.total_cost_fen) == (15, 0)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"material_quantity": ["abc", "3"]}, "第 1 行：数量须为大于 0 的数字"),
        ({"material_quantity": ["-2", "3"]}, "第 1 行：数量须为大于 0 的数字"),
        ({"material_quantity": ["0", "3"]}, "第 1 行：数量须为大于 0 的数字"),
        ({"material_quantity": ["2.555", "3"]}, "第 1 行：数量须为大于 0 的数字"),
        ({"material_quantity": ["2.5", "9" * 40]}, "第 2 行：数量须为大于 0 的数字"),
        ({"material_price": ["12.34", "1e9"]}, "第 2 行：单价须为以元计的金额"),
        ({"material_price": ["1000000.01", "1"]}, "第 1 行：单价须为以元计的金额"),
        ({"material_price": ["", "1"]}, "第 1 行：单价须为以元计的金额"),
        ({"material_name": ["", "螺丝"]}, "第 1 行：请填写材料名称"),
        ({"material_name": ["管" * 65, "螺丝"]}, "第 1 行：名称太长"),
        ({"material_unit": ["米" * 17, "个"]}, "第 1 行：单位太长"),
        (
            {"material_name": ["水\x00管", "螺丝"]},
            "第 1 行：已删除其中无法保存的不可见字符",
        ),
        ({"labour_hours": ""}, "请填写工时"),
        ({"labour_hours": "0"}, "请填写工时"),
        ({"labour_hours": "1001"}, "请填写工时"),
        ({"labour_hours": "1\x00"}, "请填写工时"),
        ({"labour_cost": "-80"}, "人工费须为以元计的金额"),
        ({"labour_cost": "9" * 30}, "人工费须为以元计的金额"),
    ],
)
def test_a_bad_record_comes_back_with_a_message_and_every_line_kept(
    app, resident, contractor, fields, message
):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    typed = {**LINES, **fields}
    response = contractor.complete(link, worker_name="王师傅", note="换管", **typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    assert 'value="王师傅"' in html and "换管" in html
    for value in typed["material_name"]:  # every line, as typed
        assert f'value="{value.replace(chr(0), "")}"' in html
    assert 'name="kept_photos" type="hidden" value="' in html  # the photo is kept
    kept = hidden_fields(html)["kept_photos"]
    assert kept
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ACCEPTED
        assert ticket.total_cost_fen is None
        assert db.session.scalar(sa.select(sa.func.count(RepairMaterial.id))) == 0


def test_too_many_lines_are_refused(app, resident, contractor):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    many = {
        "material_name": [f"螺丝{n}" for n in range(21)],
        "material_quantity": ["1"] * 21,
        "material_unit": ["个"] * 21,
        "material_price": ["0.5"] * 21,
        "labour_hours": "1",
    }
    response = contractor.complete(link, worker_name="王师傅", **many)
    assert response.status_code == 422
    assert "材料最多 20 行" in response.get_data(as_text=True)


def test_lines_are_added_and_removed_without_javascript(app, resident, contractor):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    page = _page(contractor.client, link)
    assert page.count('name="material_name"') == 2  # one line + the template's
    added = contractor.complete(link, worker_name="", add_line="1", **LINES)
    html = added.get_data(as_text=True)
    assert added.status_code == 200  # not sent yet: no complaints
    assert 'id="form-errors"' not in html
    assert html.count('name="material_name"') == 4  # two typed, a blank, template
    assert 'value="PPR 水管"' in html and 'value="膨胀螺丝 M8"' in html
    assert re.search(r'id="total-cost">¥111\.87<', html)  # worked out by the server
    kept = hidden_fields(html)["kept_photos"]
    assert kept  # the photo sent with the press is kept

    removed = contractor.complete(link, remove_line="0", kept_photos=kept, **LINES)
    html = removed.get_data(as_text=True)
    assert 'value="PPR 水管"' not in html and 'value="膨胀螺丝 M8"' in html
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.ACCEPTED


def test_every_field_of_the_form_fits_a_phone_and_says_what_it_is(
    app, resident, contractor
):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    html = _page(contractor.client, link)
    assert 'inputmode="decimal" id="material-quantity-0"' in html
    assert 'id="add-line"' in html and 'name="remove_line" value="0"' in html
    assert "总费用 = 材料费（数量 × 单价）+ 您填报的人工费" in html


# --- statistics and CSV ---------------------------------------------------------


def _complete_costed(app, client, resident, officer, description, category, phone):
    """Reports, triages into ``category``, sends to ``phone``'s company, completes
    with LINES; returns the number."""
    number = resident.report(description=description)
    officer.act(number, "triage", urgency="general", category=category)
    with app.app_context():
        contractor_id = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == phone)
        )
    if phone != PRIMARY:
        officer.act(number, "assign", contractor=str(contractor_id))
    link = _job(app, number)
    worker = ContractorActions(client, phone)
    worker.tap(link, "accept")
    response = worker.complete(link, worker_name="王师傅", **LINES)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return number


def test_costs_per_category_building_and_contractor_agree_with_the_database(
    app, client, resident, officer
):
    with freeze_time(T0):
        assert officer.log_in("officer", OFFICER_PASSWORD).status_code == 302
        pipe = _complete_costed(
            app, client, resident, officer, "水管漏水", "water", PRIMARY
        )
        lamp = _complete_costed(
            app, client, resident, officer, "楼道灯不亮", "electrical", BACKUP
        )
        open_one = resident.report(description="扶手松动")  # no record: not counted
        html = _page(client, f"/board/stats?{RANGE}")
        body = client.get(f"/board/stats.csv?{RANGE}&keys=en").get_data()
    with app.app_context():
        tickets = {
            t.number: t
            for t in db.session.scalars(sa.select(Ticket).order_by(Ticket.id))
        }
        by_contractor = dict(
            db.session.execute(
                sa.select(Contractor.name, sa.func.sum(Ticket.total_cost_fen))
                .join(Contractor, Ticket.contractor_id == Contractor.id)
                .where(Ticket.total_cost_fen.is_not(None))
                .group_by(Contractor.name)
            ).all()
        )
        names = {c.slug: c.name for c in db.session.scalars(sa.select(Category))}
        assert len(by_contractor) == 2
        # the CSV: every ticket, its record as the database has it
        rows = {
            row["number"]: row
            for row in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
        }
        assert set(rows) == {pipe, lamp, open_one}
        for number in (pipe, lamp):
            ticket, row = tickets[number], rows[number]
            assert row["total_cost"] == yuan(ticket.total_cost_fen) == "111.87"
            assert row["materials_cost"] == yuan(ticket.materials_cost_fen)
            assert row["labour_cost"] == yuan(ticket.labour_cost_fen)
            assert row["labour_hours"] == "1.5"
            assert row["materials"] == (
                "PPR 水管 2.5米 × 12.34 = 30.85; 膨胀螺丝 M8 3个 × 0.34 = 1.02"
            )
        assert rows[open_one]["total_cost"] == "" and rows[open_one]["materials"] == ""
    costs = html[html.index('id="costs"') :]
    for name, total in by_contractor.items():
        row = costs[costs.index('id="costs-contractor"') :].split(name)[1]
        assert row.split("</tr>")[0].count(yuan(total)) == 1
    category_table = costs[costs.index('id="costs-category"') :].split("</table>")[0]
    for slug in ("water", "electrical"):
        row = category_table.split(names[slug])[1].split("</tr>")[0]
        assert "111.87" in row and ">1<" in row
    building_table = costs[costs.index('id="costs-building"') :].split("</table>")[0]
    assert 'data-total-fen="22374"' in building_table  # both tickets: one building


def test_the_csv_header_names_the_record_in_the_officers_language(app, client, officer):
    header = client.get("/board/stats.csv").get_data().decode("utf-8-sig")
    first = header.splitlines()[0]
    assert "所用材料" in first and "总费用（元）" in first and "工时（小时）" in first


# --- arrival evidence -----------------------------------------------------------


def test_arrival_photo_is_processed_by_the_photo_job_and_shown(
    app, client, resident, contractor, officer, jobs
):
    with freeze_time(T0) as clock:
        number = resident.report(description="楼道水管漏水", phone="13912345678")
        link = _job(app, number)
        contractor.tap(link, "accept")
        page = _page(client, link)
        field = re.search(r'<input id="arrival-photo"[^>]*>', page).group(0)
        assert 'accept="image/*"' in field and 'capture="environment"' in field
        assert "不要拍人" in page  # the place, not people
        clock.tick(timedelta(minutes=67, seconds=30))
        response = contractor.arrive(link, photo=jpeg_bytes(gps=True))
    arrived_at = T0 + timedelta(minutes=67, seconds=30)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ON_SITE
        assert ticket.on_site_at == arrived_at  # the server's time
        (photo,) = ticket.arrival_photos
        assert photo.state == "pending"  # the request decoded nothing
        arrive = next(e for e in ticket.events if e.action == "arrive")
        assert (arrive.at, arrive.data["photos"], arrive.note) == (arrived_at, 1, None)
        key = ticket.resident_key

    jobs.run_due()  # a real rq SimpleWorker, burst

    with app.app_context():
        photo = db.session.scalar(sa.select(Photo).where(Photo.purpose == "arrival"))
        assert photo.state == "ready" and photo.original is None
    assert officer.log_in("officer", OFFICER_PASSWORD).status_code == 302  # now
    board = _page(client, f"/board/t/{number}")
    arrival = board[board.index('id="arrival"') :].split("</dl>")[0]
    assert "2026-03-02 10:07" in arrival and "（服务器时间）" in arrival
    src = re.search(r'<img src="([^"]+)"', arrival).group(1)
    served = client.get(unescape(src))
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert b"GPS" not in served.data  # the phone's own GPS tag is stripped
    tracking = _page(client, f"/t/{number}?k={key}")
    section = tracking[tracking.index('id="arrival"') :].split("</section>")[0]
    assert "维保单位于 2026-03-02 10:07 到场" in section
    assert 'id="arrival-photo"' in section
    stranger = app.test_client()  # not the resident's browser, no key
    assert 'id="arrival"' not in _page(stranger, f"/t/{number}")


def test_arrival_without_a_photo_needs_a_reason_and_keeps_it(
    app, client, resident, contractor, officer
):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    refused = contractor.arrive(link)
    assert refused.status_code == 422
    assert "请拍一张现场照片（拍地点，不要拍人），或说明无法拍照的原因。" in (
        refused.get_data(as_text=True)
    )
    not_a_photo = contractor.arrive(link, photo=b"plain text")
    assert not_a_photo.status_code == 422
    too_long = contractor.arrive(link, no_photo_reason="坏" * 201)
    assert too_long.status_code == 422 and "最多 200 个字" in too_long.get_data(
        as_text=True
    )
    with_nul = contractor.arrive(link, no_photo_reason="相机\x00坏了")
    assert with_nul.status_code == 422
    assert 'value="相机坏了"' in with_nul.get_data(as_text=True)  # kept, cleaned
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.ACCEPTED
    assert contractor.arrive(link, no_photo_reason="手机相机坏了").status_code == 303
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ON_SITE and ticket.arrival_photos == []
    board = _page(client, f"/board/t/{number}")
    assert re.search(r'id="arrival-no-photo">手机相机坏了<', board)
    # a second tap (a retry on a weak network) changes nothing
    assert contractor.arrive(link, no_photo_reason="再点一次").status_code == 303
    with app.app_context():
        actions = [e.action for e in find_ticket(number).events]
        assert actions.count("arrive") == 1


def test_no_location_is_collected_unless_the_community_asks_and_the_contractor_agrees(
    app, client, resident, contractor, officer
):
    first = resident.report(description="楼道水管漏水")
    link = _job(app, first)
    contractor.tap(link, "accept")
    page = _page(client, link)
    assert 'id="location-consent"' not in page and "geolocation" not in page
    position = {"location_consent": "y", "latitude": "22.5431", "longitude": "114.0579"}
    contractor.arrive(link, no_photo_reason="相机故障", **position)
    with app.app_context():
        assert find_ticket(first).arrival_latitude is None  # the community: off
        community = db.session.scalar(sa.select(Community))
        community.asks_arrival_location = True
        db.session.commit()

    second = resident.report(description="楼道灯不亮")
    link = _job(app, second)
    contractor.tap(link, "accept")
    page = _page(client, link)
    consent = page.index('id="location-consent-text"')
    assert "只有勾选下面的方框后，浏览器才会询问您的位置" in page
    assert consent < page.index('id="location-consent-box"')  # read before the ask
    assert "getCurrentPosition" in page
    no_consent = {k: v for k, v in position.items() if k != "location_consent"}
    contractor.arrive(link, no_photo_reason="相机故障", **no_consent)
    with app.app_context():
        assert find_ticket(second).arrival_latitude is None  # not agreed: not kept

    fourth = resident.report(description="电表箱门坏了")
    link = _job(app, fourth)
    contractor.tap(link, "accept")
    contractor.arrive(link, photo=jpeg_bytes(), **position)
    with app.app_context():
        ticket = find_ticket(fourth)
        assert (ticket.arrival_latitude, ticket.arrival_longitude) == (
            22.5431,
            114.0579,
        )
    board = _page(client, f"/board/t/{fourth}")
    assert "22.543100, 114.057900" in board
    stranger = app.test_client()
    tracking = _page(stranger, f"/t/{fourth}?k={ticket.resident_key}")
    assert (
        'id="arrival-photo"' in tracking and "22.5431" not in tracking
    )  # the contractor's location: officers only

    # closed and past the retention limit: erased with the ticket's personal data
    with app.app_context():
        ticket = find_ticket(fourth)
        ticket.status, ticket.closed_at = TicketStatus.CLOSED, T0
        db.session.commit()
        later = T0 + privacy.retention_limit() + timedelta(days=1)
        assert privacy.erase_expired(later) >= 1
        ticket = find_ticket(fourth)
        assert ticket.arrival_latitude is None and ticket.arrival_longitude is None
        erased = [e for e in ticket.events if e.action == privacy.ERASED][-1]
        assert erased.data["arrival_location"] is True


@pytest.mark.parametrize(
    "latitude, longitude",
    [("91", "114"), ("22.5", "181"), ("abc", "114"), ("1e400", "114"), ("", "114")],
)
def test_a_position_that_is_not_one_is_dropped(app, latitude, longitude):
    from dispatch.contractor.forms import ArrivalForm

    data = {"location_consent": "y", "latitude": latitude, "longitude": longitude}
    with app.test_request_context(method="POST", data=data):
        assert ArrivalForm(meta={"csrf": False}).location() is None
    good = {**data, "latitude": "-22.5", "longitude": "114.0579"}
    with app.test_request_context(method="POST", data=good):
        assert ArrivalForm(meta={"csrf": False}).location() == (-22.5, 114.0579)


def test_the_admin_switch_is_off_by_default(app, client, admin_user):
    from tests.actions import OfficerActions
    from tests.conftest import ADMIN_PASSWORD

    admin = OfficerActions(client)
    assert admin.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    with app.app_context():
        community = db.session.scalar(sa.select(Community))
        assert community.asks_arrival_location is False
        path = f"/board/admin/communities/{community.id}"
    page = _page(client, path)
    box = re.search(r'<input[^>]*id="asks_arrival_location"[^>]*>', page).group(0)
    assert "checked" not in box
    assert "《个人信息保护法》第二十八条" in page


def test_a_rejected_arrival_keeps_the_photo_and_a_new_one_replaces_it(
    app, resident, contractor
):
    number = resident.report(description="楼道水管漏水")
    link = _job(app, number)
    contractor.tap(link, "accept")
    first = contractor.arrive(link, photo=jpeg_bytes(), no_photo_reason="坏" * 201)
    assert first.status_code == 422
    page = first.get_data(as_text=True)
    assert 'id="arrival-kept"' in page
    kept = re.search(r'name="kept_photos" type="hidden" value="([^"]+)"', page)
    kept = kept.group(1)
    again = contractor.arrive(link, photo=jpeg_bytes(color=(1, 2, 3)), kept_photos=kept)
    assert again.status_code == 303  # the new photo replaced the kept one
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.ON_SITE
        assert len(ticket.arrival_photos) == 1


def test_a_common_areas_costs_are_its_own_line(app, client, demo, officer):
    """Costs by place list a common area on its own, as the counts do (they went
    under "no building")."""
    from repair.models import Entrance, PlaceKind
    from tests.actions import ResidentActions

    with app.app_context():
        code = db.session.scalar(
            sa.select(Entrance.code).where(
                Entrance.kind == PlaceKind.COMMON_AREA, Entrance.name == "北门"
            )
        )
    with freeze_time(T0):
        assert officer.log_in("officer", OFFICER_PASSWORD).status_code == 302
        gate = ResidentActions(app.test_client(), code)
        _complete_costed(
            app, client, gate, officer, "北门路灯不亮", "lighting", PRIMARY
        )
        html = _page(client, f"/board/stats?{RANGE}")
    costs = html[html.index('id="costs-building"') :].split("</table>")[0]
    assert "北门" in costs and "无楼栋" not in costs
