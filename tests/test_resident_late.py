"""What a resident's pages say once a deadline has passed, and who hears of an
urgent report where a community has no company or no officer to text.

An outside tester found the page of someone trapped in a lift still saying
"help is on its way" and "on site by 10:30" at 10:45 with nobody there; a
confirmation promising a maintenance company's answer where no route named one;
and an urgent report in a community without an officer that texted nobody.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import OutboxMessage, Route
from repair.db import db
from repair.models import Entrance, Lift, Role, User
from tests.factories import find_ticket

START = "2026-11-22 02:00:00"  # 10:00 in Shanghai
OFFICER, SUPERVISOR = "+8613800000009", "+8613800000010"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def lift(app, entrance_code):
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        db.session.add(Lift(entrance=entrance, name="1号梯"))
        db.session.commit()


def _page(resident, number: str) -> str:
    return resident.client.get(f"/t/{number}").get_data(as_text=True)


def _section(html: str, anchor: str) -> str:
    part = html[html.index(f'id="{anchor}"') :]
    return part[: part.index("</section>")]


def _texts_to(phone: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.to_phone == phone)
            .order_by(OutboxMessage.id)
        )
    )


def test_a_trapped_persons_page_says_help_is_late_once_it_is(
    app, resident, jobs, clock, lift
):
    number = resident.report(
        description="电梯停了，里面有人出不来",
        spot="",
        photos=[],
        danger="trapped",
        phone="13800138000",
    )
    jobs.run_due()
    clock.tick(timedelta(minutes=29))
    html = _page(resident, number)
    assert "不要扒门" in html and "救援未在时限内到达" not in html
    assert "10:30 前到场" in _section(html, "what-next")

    clock.tick(timedelta(minutes=2))  # 10:31: nobody came within the 30 minutes
    jobs.run_due()
    html = _page(resident, number)
    card = _section(html, "call-now")
    assert "救援未在时限内到达" in card and "立即拨打 119 消防" in card
    # the stale "texts are on their way" goes: what happens next says what is true
    assert 'id="sent-note"' not in card and "正在短信提醒" not in card
    said = _section(html, "what-next")
    assert "应于 10:30 前到场，至今未到" in said and "已通知社区维修专干跟进" in said
    with app.app_context():
        # the page says so because the officer really was alerted at 10:30
        assert any(m.template == "officer_breach" for m in _texts_to(OFFICER))
        # and the family waiting hears it, once, with their page's link
        texts = _texts_to("+8613800138000")
        [late] = [m for m in texts if m.template == "resident_late"]
        assert "未能在10:30前到场，已通知社区维修专干跟进" in late.body
        assert "/j/" in late.body
    clock.tick(timedelta(minutes=30))
    jobs.run_due()
    with app.app_context():
        assert [m.template for m in _texts_to("+8613800138000")].count(
            "resident_late"
        ) == 1


def test_a_job_nobody_answered_and_no_backup_took_says_so(app, resident, jobs, clock):
    with app.app_context():
        for route in db.session.scalars(sa.select(Route)):
            route.backup_contractor_id = None
        db.session.commit()
    number = resident.report(description=URGENT_TEXT, spot="5楼")
    jobs.run_due()
    clock.tick(timedelta(minutes=31))  # the hour to answer is 30 minutes here
    jobs.run_due()
    said = _section(_page(resident, number), "what-next")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.accepted_at is None and ticket.contact_due_at is not None
    assert "维保单位未在 10:30 前响应，已通知社区维修专干" in said
    assert "仍须在 12:00 前到场" in said
    assert "前联系" not in said


def test_without_a_company_the_pages_promise_no_companys_answer(
    app, resident, jobs, clock
):
    with app.app_context():
        db.session.execute(sa.delete(Route))
        db.session.commit()
    response = resident.submit(description=URGENT_TEXT, spot="5楼")
    received = resident.client.get(response.headers["Location"])
    html = received.get_data(as_text=True)
    number = html.split('id="ticket-number">')[1].split("<")[0]
    with app.app_context():
        assert find_ticket(number).contractor_id is None
    deadlines = html[html.index('id="deadlines"') :].split("</p>")[0]
    assert "维修专干安排的维保单位须在" in deadlines and "响应" not in deadlines
    said = _section(_page(resident, number), "what-next")
    assert "社区维修专干正在安排维保单位，须在 12:00 前到场" in said
    assert "联系" not in said


def test_an_urgent_report_without_an_officer_reaches_the_supervisor_once(
    app, resident, jobs, clock
):
    with app.app_context():
        for officer in db.session.scalars(
            sa.select(User).where(User.role == Role.OFFICER)
        ):
            officer.is_active = False
        db.session.commit()
    number = resident.report(description=URGENT_TEXT, spot="5楼")
    jobs.run_due()
    with app.app_context():
        [alert] = _texts_to(SUPERVISOR)
        assert alert.template == "officer_new_urgent" and number in alert.body
        assert _texts_to(OFFICER) == []

    # The urgent on-site rung alerts the officer and the supervisor: standing in
    # for the officer, the supervisor gets one text for it, as the supervisor.
    clock.tick(timedelta(hours=2, minutes=1))
    jobs.run_due()
    with app.app_context():
        ticket = find_ticket(number)
        breach = [
            e
            for e in ticket.events
            if e.action == "escalated" and e.data["clock"] == "on_site"
        ]
        assert len(breach) == 1
        texts = [m for m in _texts_to(SUPERVISOR) if m.event_id == breach[0].id]
        assert len(texts) == 1 and "督办" in texts[0].body


def test_the_timeline_says_whom_each_escalation_reached(app, resident, jobs, clock):
    # A nudge to the contractor showed on the resident's page as "已上报维修专干",
    # three times over a ladder (outside tester): the officer had heard nothing.
    number = resident.report(description=URGENT_TEXT, spot="5楼")
    jobs.run_due()
    clock.tick(timedelta(minutes=20))  # a third of the window left: the reminder
    jobs.run_due()
    timeline = _section(_page(resident, number), "timeline").split("</ol>")[0]
    assert "已催办维保单位" in timeline and "已上报维修专干" not in timeline
    clock.tick(timedelta(minutes=10))  # the deadline: the backup, and the officer
    jobs.run_due()
    timeline = _section(_page(resident, number), "timeline").split("</ol>")[0]
    assert timeline.count("已上报维修专干") == 1
    clock.tick(timedelta(minutes=60))  # the supervisor, for the silent backup
    jobs.run_due()
    timeline = _section(_page(resident, number), "timeline").split("</ol>")[0]
    assert "已上报主管" in timeline
