"""Storms (并单): many reports of one problem become one job, one SMS, one clock;
the officer merges the group and splits a wrong member out again."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.assignment.storms import raised_by
from dispatch.models import Assignment, OutboxMessage
from dispatch.stats import queries
from repair import lifecycle
from repair.db import db
from repair.models import (
    ActorType,
    Building,
    Channel,
    Entrance,
    Lift,
    Ticket,
    TicketFollower,
    TicketStatus,
    Urgency,
)
from tests.actions import ContractorActions, ResidentActions
from tests.factories import find_ticket, jpeg_bytes

PRIMARY = "+8613800000001"
START = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PHONES = [f"1390000000{i}" for i in range(5)]


@pytest.fixture
def clock():
    """The frozen clock, started before the officer logs in."""
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def settings(settings):
    settings["STORM_WINDOW"] = "2h"
    return settings


def _code(app, building: str, entrance: str) -> str:
    with app.app_context():
        return db.session.scalar(
            sa.select(Entrance.code)
            .join(Entrance.building)
            .where(Building.name == building, Entrance.name == entrance)
        )


def _report(app, code: str, description: str, phone: str, **fields) -> str:
    """One resident at the sticker, on their own phone (a browser of their own)."""
    return ResidentActions(app.test_client(), code).report(
        description=description, spot="地下室", phone=phone, **fields
    )


def _messages(app, **where) -> list[OutboxMessage]:
    with app.app_context():
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return db.session.scalars(query).all()


def test_five_reports_of_a_burst_pipe_are_one_job_and_one_sms(
    clock, app, client, officer, entrance_code
):
    words = [
        "地下室水管爆裂，水喷出来了",
        "水管爆了",
        "楼下在漏水",
        "水管破了",
        "水淹了",
    ]
    frozen = clock
    numbers = []
    for phone, description in zip(PHONES, words, strict=True):
        numbers.append(_report(app, entrance_code, description, phone))
        frozen.tick(timedelta(minutes=3))
    parent, *others = numbers
    with app.app_context():
        tickets = [find_ticket(n) for n in numbers]
        assert tickets[0].status is TicketStatus.DISPATCHED
        for held in tickets[1:]:
            # held in the group: no job, no clocks, not on the board's queues
            assert held.status is TicketStatus.NEW
            assert held.group_of_id == tickets[0].id
            assert held.next_due_at is None and held.contractor_id is None
        assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 1
    assert len(_messages(app, recipient_type="contractor")) == 1
    # the officers heard of the urgent burst pipe once, not once per report
    alerts = _messages(app, template="officer_new_urgent")
    assert alerts and {m.ticket_id for m in alerts} == {tickets[0].id}

    board = client.get("/board").get_data(as_text=True)
    assert "5 份报修像是同一个问题" in board
    for number in others:  # shown in the proposal, not as cards of their own
        assert f'data-number="{number}"' not in board

    response = officer.act(parent, "merge")
    assert response.status_code == 303
    with app.app_context():
        page = client.get(f"/board/t/{parent}").get_data(as_text=True)
        for number, description in zip(numbers[1:], words[1:], strict=True):
            assert find_ticket(number).status is TicketStatus.DUPLICATE
            assert description in page  # each report's own words, on the parent
        merged = [e for e in find_ticket(parent).events if e.action == "merged"]
        assert [e.data["member"] for e in merged] == others
        assert all(e.data["photos"] for e in merged)  # their photos, by id
        followers = {f.phone for f in find_ticket(parent).followers}
        assert followers == {f"+86{p}" for p in PHONES[1:]}
    assert len(_messages(app, recipient_type="contractor")) == 1

    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    completed = _messages(app, template="resident_completed")
    assert [m.to_phone for m in completed] == [f"+86{PHONES[0]}"]
    # the merged reports' residents: their own number, handled with the parent
    together = _messages(app, template="resident_completed_together")
    assert sorted(m.to_phone for m in together) == sorted(f"+86{p}" for p in PHONES[1:])
    assert len(_messages(app, recipient_type="contractor")) == 1


def test_a_report_of_danger_joining_an_urgent_group_later_alerts_the_officer(
    clock, app, entrance_code
):
    # Outside tester: a second smell of gas at the entrance, "getting stronger",
    # 35 minutes after the first, was held in the first's group and texted nobody.
    first = _report(app, entrance_code, "楼道里有很浓的煤气味", PHONES[0], danger="gas")
    clock.tick(timedelta(minutes=35))
    second = _report(
        app,
        entrance_code,
        "三楼楼道煤气味越来越重了，快来人看看",
        PHONES[1],
        danger="gas",
    )
    with app.app_context():
        assert find_ticket(second).group_of_id == find_ticket(first).id
        second_id = find_ticket(second).id
    alerts = _messages(app, template="officer_new_urgent")
    about_second = [m for m in alerts if m.ticket_id == second_id]
    assert len(about_second) >= 1 and "越来越重" in about_second[0].body
    # within minutes of that, a third resident's report is the same news
    clock.tick(timedelta(minutes=5))
    _report(app, entrance_code, "煤气味好大", PHONES[2], danger="gas")
    assert len(_messages(app, template="officer_new_urgent")) == len(alerts)


def test_a_held_report_tells_its_resident_it_is_handled_together(app, entrance_code):
    resident = ResidentActions(app.test_client(), entrance_code)
    first = _report(app, entrance_code, "水管爆裂", PHONES[0])
    second = resident.report(description="水管漏水很厉害", spot="2楼", phone=PHONES[1])
    page = resident.client.get(f"/t/{second}").get_data(as_text=True)
    assert second in page  # their own number
    assert 'id="group-note"' in page and first in page
    assert "您的报修与" in page
    # a visitor reads "this report", not "your report" (outside tester)
    public = app.test_client().get(f"/t/{second}").get_data(as_text=True)
    assert "这份报修与" in public and "您的报修与" not in public


def test_a_second_report_of_ones_own_problem_is_not_called_a_neighbours(
    app, entrance_code
):
    # Outside tester: reporting the same broken pipe twice from one phone, the
    # page said 邻居已报修了同一问题 of her own first report.
    resident = ResidentActions(app.test_client(), entrance_code)
    first = resident.report(description="水管爆裂", spot="地下室", phone=PHONES[0])
    second = resident.report(description="水管还在漏水", spot="地下室", phone=PHONES[0])
    received = resident.client.get(f"/t/{second}/received").get_data(as_text=True)
    assert f"您已报修过同一问题（报修单 {first}）" in received
    assert "邻居" not in received
    page = resident.client.get(f"/t/{second}").get_data(as_text=True)
    assert f"您已报修过同一问题（报修单 {first}）" in page and "邻居" not in page


def test_building_wide_categories_group_across_entrances_others_do_not(app, demo):
    one, two = _code(app, "3栋", "1单元"), _code(app, "3栋", "2单元")
    water = _report(app, one, "水管爆裂", PHONES[0])
    water_too = _report(app, two, "水管爆了在漏水", PHONES[1])
    light = _report(app, one, "楼道灯不亮", PHONES[2])
    light_elsewhere = _report(app, two, "楼道灯坏了不亮", PHONES[3])
    light_here = _report(app, one, "一楼楼道灯不亮了", PHONES[4])
    with app.app_context():
        assert find_ticket(water_too).group_of_id == find_ticket(water).id
        assert find_ticket(light_elsewhere).group_of_id is None  # another entrance
        assert find_ticket(light_here).group_of_id == find_ticket(light).id


def test_a_lift_at_another_entrance_or_another_named_lift_is_another_problem(app, demo):
    # Walking the form: a loud advert screen in 2栋1单元's lift joined 2栋2单元's
    # lift entrapment, and its resident read that neighbours had reported the same
    # problem. Each entrance has its own lifts.
    one, two = _code(app, "3栋", "1单元"), _code(app, "3栋", "2单元")
    with app.app_context():
        entrance = db.session.scalar(sa.select(Entrance).where(Entrance.code == one))
        left, right = (
            Lift(entrance=entrance, name="1号梯"),
            Lift(entrance=entrance, name="2号梯"),
        )
        db.session.add_all([left, right])
        db.session.commit()
        left_id, right_id = str(left.id), str(right.id)
    stopped = _report(app, one, "电梯停了不动，按钮没反应", PHONES[0], lift=left_id)
    elsewhere = _report(app, two, "电梯停了，门也打不开", PHONES[1])
    other_lift = _report(
        app, one, "电梯门关不上，一直开开关关", PHONES[2], lift=right_id
    )
    same_lift = _report(app, one, "电梯还是停着不动", PHONES[3], lift=left_id)
    unnamed = _report(app, one, "电梯坏了，停在一楼", PHONES[4])
    with app.app_context():
        parent = find_ticket(stopped).id
        assert find_ticket(elsewhere).group_of_id is None
        assert find_ticket(other_lift).group_of_id is None
        assert find_ticket(same_lift).group_of_id == parent
        assert find_ticket(unnamed).group_of_id == parent


def test_a_report_after_the_window_is_a_job_of_its_own(app, entrance_code):
    with freeze_time(START) as frozen:
        first = _report(app, entrance_code, "水管爆裂", PHONES[0])
        frozen.tick(timedelta(minutes=90))
        second = _report(app, entrance_code, "水管爆了", PHONES[1])
        # the window runs from the group's latest report: 90 + 90 min is still in
        frozen.tick(timedelta(minutes=90))
        third = _report(app, entrance_code, "水管漏水", PHONES[2])
        frozen.tick(timedelta(hours=2, seconds=1))
        fourth = _report(app, entrance_code, "水管又漏了", PHONES[3])
    with app.app_context():
        assert find_ticket(second).group_of_id == find_ticket(first).id
        assert find_ticket(third).group_of_id == find_ticket(first).id
        assert find_ticket(fourth).group_of_id is None
        assert find_ticket(fourth).status is TicketStatus.DISPATCHED


def test_an_urgent_report_makes_a_general_group_urgent(app, entrance_code):
    with freeze_time(START) as frozen:
        parent = _report(app, entrance_code, "楼道水管有点渗水", PHONES[0])
        with app.app_context():
            assert find_ticket(parent).urgency is Urgency.GENERAL
        frozen.tick(timedelta(minutes=20))
        urgent = _report(app, entrance_code, "水管爆裂，水喷出来了", PHONES[1])
    with app.app_context():
        ticket = find_ticket(parent)
        assert ticket.urgency is Urgency.URGENT
        # the urgent clocks count from the urgent report
        assert ticket.on_site_due_at == START + timedelta(minutes=20, hours=2)
        assert ticket.contact_due_at == START + timedelta(minutes=50)
        assert find_ticket(urgent).group_of_id == ticket.id
        reasons = ticket.events[-1].data["reasons"]
        assert reasons[0] == f"group:{urgent}"
    contractor = _messages(app, recipient_type="contractor")
    assert [m.template for m in contractor] == ["dispatch", "urgency_raised"]
    officers = _messages(app, template="officer_new_urgent")
    assert officers and all(m.ticket_id == ticket.id for m in officers)


def test_the_raised_urgency_says_what_made_it_urgent(
    clock, app, client, officer, entrance_code
):
    """The officer's and the contractor's SMS, the board's ticket page and the
    contractor's job page carry the urgent report's own words, not the general
    report the ticket was opened with; the classifier line is not 'general'."""
    # The same pipe: a dripping tap and a burst pipe are two problems (same_problem).
    parent = _report(app, entrance_code, "楼道的水管接头一直在滴水", PHONES[0])
    clock.tick(timedelta(minutes=20))
    urgent = _report(app, entrance_code, "水管爆裂，电梯井进水了", PHONES[1])
    with app.app_context():
        assert find_ticket(parent).urgency is Urgency.URGENT
        assert find_ticket(parent).classification["urgency"] == "urgent"
    [raised] = _messages(app, template="urgency_raised")
    assert "电梯井进水" in raised.body and "滴水" not in raised.body
    assert "已改为紧急" in raised.body
    officers = _messages(app, template="officer_new_urgent")
    assert officers
    for message in officers:
        assert message.ticket_id == find_ticket_id(app, parent)
        assert "电梯井进水" in message.body and "滴水" not in message.body

    page = client.get(f"/board/t/{parent}").get_data(as_text=True)
    shown = page[page.index('id="raised-by"') :]
    assert urgent in shown[:400] and "水管爆裂，电梯井进水了" in shown[:600]
    classifier = page[page.index("自动分类") :][:80]
    assert "一般" not in classifier and "紧急" in classifier

    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    job = client.get(link, follow_redirects=True).get_data(as_text=True)
    top = job[: job.index('id="job-place"')]
    assert 'id="raised-by"' in top and "水管爆裂，电梯井进水了" in top


def test_a_report_of_another_problem_at_the_place_is_not_held_in_its_group(
    app, entrance_code
):
    # An outside tester's storm night: a burst pipe in the basement (大量漏水
    # declared) was held under a roof leak of the same building, the contractor
    # sent to the roof and told one repair would do; a broken swing was held
    # under a branch over the slide. Place and category are not the problem.
    roof = _report(app, entrance_code, "顶楼天花板漏水很严重", PHONES[0])
    pipe = _report(
        app, entrance_code, "地下室的水管破了，哗哗流水", PHONES[1], danger="flood"
    )
    again = _report(app, entrance_code, "地下室水管还在哗哗流水", PHONES[2])
    with app.app_context():
        roof_ticket, pipe_ticket = find_ticket(roof), find_ticket(pipe)
        assert pipe_ticket.group_of_id is None
        assert pipe_ticket.status is TicketStatus.DISPATCHED
        assert raised_by(roof_ticket) is None  # the pipe did not make it urgent
        # the same pipe again: that report joins the pipe's group
        assert find_ticket(again).group_of_id == pipe_ticket.id
    dispatched = {m.ticket_id for m in _messages(app, template="dispatch")}
    assert find_ticket_id(app, pipe) in dispatched


def find_ticket_id(app, number: str) -> int:
    with app.app_context():
        return find_ticket(number).id


def test_merged_residents_hear_their_own_number_and_are_not_asked_to_confirm(
    clock, app, client, officer, entrance_code
):
    numbers = [
        _report(app, entrance_code, words, phone)
        for words, phone in zip(
            ("水管爆裂", "水管爆了", "水管漏水"), PHONES[:3], strict=True
        )
    ]
    parent, *others = numbers
    officer.act(parent, "merge")
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    [own] = _messages(app, template="resident_completed")
    assert own.to_phone == f"+86{PHONES[0]}" and parent in own.body
    together = _messages(app, template="resident_completed_together")
    assert sorted(m.to_phone for m in together) == [f"+86{p}" for p in PHONES[1:3]]
    for message, number, phone in zip(
        sorted(together, key=lambda m: m.to_phone), others, PHONES[1:3], strict=True
    ):
        assert message.to_phone == f"+86{phone}"
        assert number in message.body and parent in message.body
        assert "确认" not in message.body
        # the link opens their own report's page, which says it was handled
        # together with the parent
        path = "/j/" + message.variables["code"]
        page = app.test_client().get(path, follow_redirects=True)
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and number in text and parent in text


def test_a_declared_flood_joins_the_group_and_makes_it_urgent(app, entrance_code):
    parent = _report(app, entrance_code, "楼道水管有点渗水", PHONES[0])
    flood = _report(app, entrance_code, "地下室", PHONES[1], danger="flood")
    with app.app_context():
        assert find_ticket(flood).group_of_id == find_ticket(parent).id
        assert find_ticket(parent).urgency is Urgency.URGENT


def test_someone_trapped_in_a_lift_is_never_held(app, demo):
    one, two = _code(app, "3栋", "1单元"), _code(app, "3栋", "2单元")
    first = _report(app, one, "电梯坏了不动了", PHONES[0])
    trapped = _report(app, two, "电梯停了", PHONES[1], danger="trapped")
    with app.app_context():
        assert find_ticket(first).category.slug == "lift"
        ticket = find_ticket(trapped)
        assert ticket.group_of_id is None
        assert ticket.status is TicketStatus.DISPATCHED


def _lifts(app, code: str) -> dict[str, int]:
    """Gives the entrance two lifts; returns their ids by name."""
    with app.app_context():
        entrance = db.session.scalar(sa.select(Entrance).where(Entrance.code == code))
        db.session.add_all(
            [
                Lift(entrance=entrance, name="1号梯"),
                Lift(entrance=entrance, name="2号梯", sort_order=1),
            ]
        )
        db.session.commit()
        return {lift.name: lift.id for lift in entrance.lifts}


def test_two_reports_of_someone_trapped_in_one_lift_send_one_contractor(
    clock, app, client, entrance_code
):
    # The person inside and a neighbour outside reported one entrapment: two
    # unlinked urgent jobs, two SMS to the contractor (an outside tester).
    lifts = _lifts(app, entrance_code)
    inside = _report(
        app, entrance_code, "我被关在电梯里了", PHONES[0], danger="trapped",
        lift=str(lifts["1号梯"]),
    )  # fmt: skip
    clock.tick(timedelta(minutes=4))
    outside = _report(
        app, entrance_code, "电梯里有人被困，一直在拍门", PHONES[1], danger="trapped",
        lift=str(lifts["1号梯"]),
    )  # fmt: skip
    with app.app_context():
        first, second = find_ticket(inside), find_ticket(outside)
        assert second.group_of_id == first.id
        assert first.urgency is Urgency.URGENT
        assert f"+86{PHONES[1]}" in {f.phone for f in first.followers}
    assert len(_messages(app, recipient_type="contractor")) == 1
    page = client.get(f"/t/{outside}", follow_redirects=True).get_data(as_text=True)
    assert inside in page  # the second reporter sees the report it joined

    # someone trapped in the other lift of the entrance is another emergency
    other = _report(
        app, entrance_code, "2号梯困人", PHONES[2], danger="trapped",
        lift=str(lifts["2号梯"]),
    )  # fmt: skip
    with app.app_context():
        ticket = find_ticket(other)
        assert ticket.group_of_id is None
        assert ticket.status is TicketStatus.DISPATCHED
    assert len(_messages(app, recipient_type="contractor")) == 2


def test_someone_trapped_again_later_or_after_arrival_is_a_new_emergency(
    clock, app, client, entrance_code
):
    lifts = _lifts(app, entrance_code)
    lift = str(lifts["1号梯"])
    first = _report(
        app, entrance_code, "电梯困人", PHONES[0], danger="trapped", lift=lift
    )
    clock.tick(timedelta(minutes=31))  # past the contact deadline's length
    later = _report(
        app, entrance_code, "电梯又困人了", PHONES[1], danger="trapped", lift=lift
    )
    with app.app_context():
        assert find_ticket(later).group_of_id is None
        contractor = ContractorActions(client, PRIMARY)
        link = next(
            path for path in contractor.links() if find_ticket(later).number in
            client.get(path, follow_redirects=True).get_data(as_text=True)
        )  # fmt: skip
    contractor.tap(link, "accept")
    assert contractor.arrive(link, photo=jpeg_bytes()).status_code == 303
    clock.tick(timedelta(minutes=2))
    again = _report(
        app, entrance_code, "电梯里有人出不来", PHONES[2], danger="trapped", lift=lift
    )
    with app.app_context():
        assert find_ticket(later).status is TicketStatus.ON_SITE
        assert find_ticket(again).group_of_id is None
        assert find_ticket(again).status is TicketStatus.DISPATCHED
        assert find_ticket(first).group_of_id is None


def test_a_split_report_is_dispatched_with_clocks_from_the_split(
    clock, app, client, officer, entrance_code
):
    frozen = clock
    parent = _report(app, entrance_code, "水管爆裂", PHONES[0])
    frozen.tick(timedelta(minutes=5))
    member = _report(app, entrance_code, "楼道水管漏水", PHONES[1])
    frozen.tick(timedelta(minutes=5))
    officer.act(parent, "merge")
    frozen.tick(timedelta(minutes=50))
    response = officer.act(member, "split")
    assert response.status_code == 303
    split_at = START + timedelta(minutes=60)
    with app.app_context():
        ticket = find_ticket(member)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.group_of_id is None and ticket.duplicate_of_id is None
        assert ticket.closed_at is None
        assert ticket.urgency_confirmed_at == split_at  # the officer looked at it
        on_site = timedelta(hours=2 if ticket.urgency is Urgency.URGENT else 24)
        assert ticket.on_site_due_at == split_at + on_site
        followers = db.session.scalars(
            sa.select(TicketFollower.phone).where(
                TicketFollower.ticket_id == find_ticket(parent).id
            )
        ).all()
        assert f"+86{PHONES[1]}" not in followers
        assert find_ticket(parent).events[-1].action == "group_split"
    assert len(_messages(app, recipient_type="contractor", template="dispatch")) == 2


def test_a_held_report_can_be_split_out_before_any_merge(app, officer, entrance_code):
    parent = _report(app, entrance_code, "水管爆裂", PHONES[0])
    member = _report(app, entrance_code, "水管漏水", PHONES[1])
    assert officer.act(member, "assign", contractor="1").status_code == 303
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.NEW  # held: no assigning
    officer.act(member, "split")
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.DISPATCHED
        assert find_ticket(parent).status is TicketStatus.DISPATCHED


def test_statistics_count_a_storm_as_one_late_job(
    clock, app, client, officer, entrance_code
):
    numbers = [
        _report(app, entrance_code, f"水管爆裂 {i}号", phone)
        for i, phone in enumerate(PHONES)
    ]
    officer.act(numbers[0], "merge")
    clock.tick(timedelta(hours=30))
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    with app.app_context():
        where = Ticket.id.in_(sa.select(Ticket.id))
        clocks = queries.compliance(where, START + timedelta(hours=31))
        totals = queries.status_totals(where)
    # one late job (the parent's clocks), not five; the merged reports are counted
    # as reports received and ended without work of their own
    assert clocks["urgent_on_site"].late == 1
    assert sum(c.late + c.overdue for c in clocks.values()) == 3  # triage, contact
    assert totals["total"] == 5 and totals["ended"] == 4


def test_supervisors_see_the_districts_surges(app, client, officer, entrance_code):
    from tests.conftest import ADMIN_PASSWORD

    numbers = [_report(app, entrance_code, "水管爆裂", p) for p in PHONES[:3]]
    assert client.get("/board/storms").status_code == 403  # an officer: one place
    client.get("/board/logout")
    from tests.actions import OfficerActions

    with app.app_context():
        from werkzeug.security import generate_password_hash

        from repair.models import Role, User

        db.session.add(
            User(
                username="root",
                role=Role.ADMIN,
                password_hash=generate_password_hash(ADMIN_PASSWORD),
            )
        )
        db.session.commit()
    admin = OfficerActions(app.test_client())
    admin.log_in("root", ADMIN_PASSWORD)
    page = admin.client.get("/board/storms").get_data(as_text=True)
    assert 'data-category="water"' in page
    assert f"{numbers[0]}</a> (3)" in page


@pytest.mark.parametrize("trapped", [False, True], ids=["burst-pipe", "lift-trapped"])
def test_two_reports_at_the_same_moment_make_one_group(app, demo, trapped):
    """Threads through the lifecycle (on PostgreSQL: separate connections); four
    reports of a burst pipe, or of someone trapped in one lift."""
    code = _code(app, "3栋", "2单元")
    lift_id = _lifts(app, code)["1号梯"] if trapped else None
    barrier = threading.Barrier(4)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def report(index: int) -> None:
        try:
            with app.app_context():
                # SQLite takes its write lock as a transaction begins: wait first
                barrier.wait(timeout=30)
                entrance = db.session.scalar(
                    sa.select(Entrance).where(Entrance.code == code)
                )
                ticket = lifecycle.open_ticket(
                    lifecycle.Report(
                        entrance=entrance,
                        spot="电梯" if trapped else "地下室",
                        description=f"{'有人被困' if trapped else '水管爆裂'} {index}",
                        reporter_phone=f"+86{PHONES[index]}",
                        declared_danger="trapped" if trapped else None,
                        lift=db.session.get(Lift, lift_id) if trapped else None,
                    ),
                    lifecycle.Actor(ActorType.RESIDENT, Channel.QR),
                )
                db.session.commit()
                numbers.append(ticket.number)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with app.app_context():
        tickets = [find_ticket(n) for n in numbers]
        parents = [t for t in tickets if t.group_of_id is None]
        assert len(parents) == 1
        assert all(
            t.group_of_id == parents[0].id for t in tickets if t is not parents[0]
        )
        assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 1


def test_reports_held_while_the_repair_was_done_still_merge(
    app, client, officer, entrance_code
):
    parent = _report(app, entrance_code, "水管爆裂", PHONES[0])
    member = _report(app, entrance_code, "水管漏水", PHONES[1])
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    # the held reporter heard of the completion before any merge
    done = _messages(app, template="resident_completed_together")
    assert f"+86{PHONES[1]}" in {m.to_phone for m in done}
    assert all(member in m.body for m in done)
    assert officer.act(parent, "merge").status_code == 303
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.DUPLICATE
        assert find_ticket(member).duplicate_of_id == find_ticket(parent).id


def test_a_wrong_manual_merge_is_split_out_too(app, officer, resident):
    first = resident.report(description="3栋门口路灯不亮", phone=PHONES[0])
    second = resident.report(description="2楼楼梯扶手松动", phone=PHONES[1])
    officer.act(second, "duplicate", original=first)
    officer.act(second, "split")
    with app.app_context():
        ticket = find_ticket(second)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.duplicate_of_id is None
        assert find_ticket(first).followers == []


def test_reports_held_by_a_ticket_that_ends_without_work_go_out_on_their_own(
    app, officer, entrance_code
):
    """A held report has no clock of its own: if its group's ticket is rejected (or
    merged elsewhere), it must not wait for a merge that can no longer come."""
    parent = _report(app, entrance_code, "水管爆裂，水一直流", PHONES[0])
    member = _report(app, entrance_code, "地下室水管在漏水", PHONES[1])
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.NEW
    response = officer.act(
        parent, "reject", reason="不属于公共区域，请联系业主自行维修"
    )
    assert response.status_code == 303
    with app.app_context():
        assert find_ticket(parent).status is TicketStatus.REJECTED
        released = find_ticket(member)
        assert released.status is TicketStatus.DISPATCHED
        assert released.group_of_id is None and released.on_site_due_at is not None
        actions = [event.action for event in released.events]
        assert "split" in actions
        # Released by the system, not looked at by anyone: the officer still
        # confirms its urgency within the hour (outside tester: "urgency confirmed
        # by the system", so no one ever triaged it).
        assert "urgency_confirmed" not in actions
        assert released.urgency_confirmed_at is None
        assert released.triage_due_at is not None


def test_reports_held_by_a_ticket_merged_elsewhere_wait_in_the_originals_group(
    app, client, officer
):
    # Outside tester: the officer merged a group's ticket into the ticket being
    # worked on for the same burst pipe; its four held reports went out as four
    # jobs and four SMS.
    elsewhere, here = _code(app, "3栋", "1单元"), _code(app, "2栋", "1单元")
    original = _report(app, elsewhere, "水管爆裂，水一直流", PHONES[0])
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        contractor_link = contractor.link()
    contractor.tap(contractor_link, "accept")
    parent = _report(app, here, "水管爆裂，水喷出来了", PHONES[1])
    members = [
        _report(app, here, "地下室水管在漏水", PHONES[2]),
        _report(app, here, "楼下水管破了", PHONES[3]),
    ]
    with app.app_context():
        assert all(
            find_ticket(m).group_of_id == find_ticket(parent).id for m in members
        )
        jobs_before = db.session.scalar(sa.select(sa.func.count(Assignment.id)))
    sms_before = {m.id for m in _messages(app, recipient_type="contractor")}
    response = officer.act(parent, "duplicate", original=original)
    assert response.status_code == 303
    with app.app_context():
        assert find_ticket(parent).status is TicketStatus.DUPLICATE
        first = find_ticket(original)
        for number in members:
            member = find_ticket(number)
            assert member.status is TicketStatus.NEW
            assert member.group_of_id == first.id
            assert member.contractor_id is None and member.next_due_at is None
        assert {f.phone for f in first.followers} >= {
            f"+86{phone}" for phone in PHONES[1:4]
        }
        assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == (
            jobs_before
        )
    # the merged ticket's contractor hears its job moved; no new job goes out
    sent = [
        m for m in _messages(app, recipient_type="contractor") if m.id not in sms_before
    ]
    assert [m.template for m in sent] == ["job_moved"]
    board = client.get("/board").get_data(as_text=True)
    assert "份报修像是同一个问题" in board


def test_reports_at_a_common_area_group_at_the_place(app, demo):
    """A common area (地下车库) has no building: a building-wide category groups
    there at the place itself, not with every other common area (IS NULL)."""
    from repair.models import PlaceKind

    def code_of(name: str) -> str:
        with app.app_context():
            return db.session.scalar(
                sa.select(Entrance.code).where(
                    Entrance.kind == PlaceKind.COMMON_AREA, Entrance.name == name
                )
            )

    garage = code_of("地下车库")
    first = _report(app, garage, "车库顶上的水管爆了，水哗哗往下流", PHONES[0])
    second = _report(app, garage, "地下车库水管爆了，地上全是水", PHONES[1])
    gate = _report(app, code_of("北门"), "北门岗亭旁边的水管爆了，水往外喷", PHONES[2])
    with app.app_context():
        parent, member = find_ticket(first), find_ticket(second)
        assert parent.category.slug == member.category.slug == "water"
        assert member.group_of_id == parent.id
        assert member.status is TicketStatus.NEW
        elsewhere = find_ticket(gate)
        assert elsewhere.category.slug == "water"
        assert elsewhere.group_of_id is None
        assert elsewhere.status is TicketStatus.DISPATCHED


def test_the_boards_group_count_agrees_with_its_card(app, client, officer, demo):
    """The section's count is the reports waiting to be merged, and each card says
    how many of its reports wait (the group's ticket is not one of them)."""
    code = _code(app, "3栋", "1单元")
    for phone, words in zip(
        PHONES[:3], ("水管爆裂", "水管爆了", "水管漏水"), strict=True
    ):
        _report(app, code, words, phone)
    other = _code(app, "1栋", "1单元")
    for phone, words in zip(PHONES[3:], ("楼道灯不亮", "楼道灯坏了不亮"), strict=True):
        _report(app, other, words, phone)
    board = client.get("/board").get_data(as_text=True)
    section = board[board.index('id="section-groups"') :]
    section = section[: section.index("</section>")]
    count = re.search(r'id="groups-waiting"[^>]*>(\d+)<', section).group(1)
    assert count == "3"  # 2 + 1 reports waiting
    assert "3 份报修像是同一个问题" in section and "2 份待并单" in section
    assert "2 份报修像是同一个问题" in section and "1 份待并单" in section


def test_splitting_out_of_a_repaired_group_needs_the_officers_word(
    app, client, officer, entrance_code
):
    """A repair already done: one click must not send a new job for the pipe just
    repaired. The officer ticks that it is another problem (no JavaScript needed:
    the box is required, and the server asks for it too)."""
    parent = _report(app, entrance_code, "水管爆裂", PHONES[0])
    member = _report(app, entrance_code, "水管漏水", PHONES[1])
    officer.act(parent, "merge")
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    page = client.get(f"/board/t/{parent}").get_data(as_text=True)
    assert 'name="another_problem" value="y" required' in page
    page = client.get(f"/board/t/{member}").get_data(as_text=True)
    assert 'id="another-problem"' in page and "这是另一个问题，需要另行派单" in page

    response = officer.act(member, "split")
    assert response.status_code == 303
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.DUPLICATE
    page = client.get(f"/board/t/{member}").get_data(as_text=True)
    assert "未拆出：本组已维修完成" in page
    assert len(_messages(app, recipient_type="contractor", template="dispatch")) == 1

    officer.act(member, "split", another_problem="y")
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.DISPATCHED
    assert len(_messages(app, recipient_type="contractor", template="dispatch")) == 2


def test_splitting_out_of_an_open_group_is_one_click(
    app, client, officer, entrance_code
):
    parent = _report(app, entrance_code, "水管爆裂", PHONES[0])
    member = _report(app, entrance_code, "水管漏水", PHONES[1])
    page = client.get(f"/board/t/{parent}").get_data(as_text=True)
    assert "another_problem" not in page
    officer.act(member, "split")
    with app.app_context():
        assert find_ticket(member).status is TicketStatus.DISPATCHED


def test_a_held_reports_received_page_says_it_is_handled_together(app, entrance_code):
    """No SMS went out for a held report: its received page does not say the
    officer and the contractor were told, but with which report it is handled and
    what happens next."""
    first = _report(app, entrance_code, "水管爆裂", PHONES[0])
    resident = ResidentActions(app.test_client(), entrance_code)
    second = resident.report(description="水管漏水很厉害", spot="2楼", phone=PHONES[1])
    page = resident.client.get(f"/t/{second}/received").get_data(as_text=True)
    assert second in page
    assert 'id="next-step"' not in page  # no text goes out for it
    note = page[page.index('id="group-note"') :]
    assert f"与报修 {first} 一并处理" in note and "不另行派单" in note
    assert "如果不是，您的报修将单独派单" in note
    with app.app_context():
        on_site = find_ticket(first).on_site_due_at
    assert 'id="deadlines"' in note and on_site is not None
    # a report on its own still says who is being told
    alone = ResidentActions(app.test_client(), entrance_code)
    number = alone.report(description="楼道灯不亮", spot="3楼", phone=PHONES[2])
    page = alone.client.get(f"/t/{number}/received").get_data(as_text=True)
    assert "正在短信通知维保单位" in page
