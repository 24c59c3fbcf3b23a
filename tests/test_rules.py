"""Rules with one home: the lifecycle's table, one ladder, and what never ran before."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import reactions
from dispatch.board import views as board_views
from dispatch.models import Assignment, EndReason, Route, SlaStep
from dispatch.sla import clock as sla
from dispatch.sla.escalation import escalate_if_overdue
from dispatch.sla.sweep import sweep
from repair import lifecycle
from repair.db import db
from repair.models import Ticket, TicketStatus
from tests.actions import ContractorActions, hidden_fields

START = "2026-11-22 02:00:00"  # 10:00 in Shanghai
PRIMARY = "+8613800000001"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock


def _ticket(number: str) -> Ticket:
    db.session.expire_all()
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def _actions(ticket: Ticket) -> list[str]:
    return [event.action for event in ticket.events]


def test_the_transition_sets_and_clears_the_timestamps_it_implies(app, resident):
    number = resident.report(description="扶手松动")
    with app.app_context():
        ticket = _ticket(number)
        system = lifecycle.Actor.system()
        lifecycle.transition(ticket, "arrive", system)
        assert ticket.on_site_at is not None
        assert ticket.accepted_at == ticket.on_site_at  # turning up answers the call
        lifecycle.transition(ticket, "complete", system, completed_by_name="王师傅")
        assert ticket.completed_at is not None and ticket.completed_by_name == "王师傅"
        lifecycle.transition(ticket, "close", system)
        assert ticket.closed_at is not None
        lifecycle.transition(ticket, "reopen", system)
        assert (
            ticket.accepted_at,
            ticket.on_site_at,
            ticket.completed_at,
            ticket.closed_at,
        ) == (None, None, None, None)
        with pytest.raises(AttributeError):
            lifecycle.transition(ticket, "dispatch", system, accepted_at=None)


def test_the_ladder_has_one_home():
    assert sla.all_rungs() == (
        ("triage", "breach"),
        ("contact", "remind"),
        ("contact", "breach"),
        ("contact", "supervisor"),
        ("on_site", "breach"),
        ("on_site", "supervisor"),
        ("hotline", "remind"),
        ("hotline", "breach"),
    )
    assert sla.rung_count("contact", "urgent") == 3
    assert sla.rung_count("hotline", None) == 2
    assert sla.rung_count("on_site", "general") == 2
    policy = sla.Policy(urgent_contact=timedelta(minutes=45))
    assert sla.lead_time("contact", policy) == timedelta(minutes=15)
    assert sla.lead_time("on_site", policy) == timedelta(0)
    assert sla.lead_time("hotline", policy) == timedelta(hours=2)


@pytest.fixture
def plans(monkeypatch) -> list[str]:
    """Records which events re-plan a ticket's rung jobs."""
    planned: list[str] = []
    real = reactions.plan_jobs

    def recording(ticket):
        planned.append(ticket.number)
        real(ticket)

    monkeypatch.setattr(reactions, "plan_jobs", recording)
    return planned


def test_me_too_rating_and_restarted_clocks_do_not_replan_jobs(
    app, client, resident, plans
):
    number = resident.report(description="扶手松动")
    plans.clear()
    form = hidden_fields(client.get(f"/t/{number}/follow").get_data(as_text=True))
    assert client.post(f"/t/{number}/follow", data=form).status_code == 303
    with app.app_context():
        ticket = _ticket(number)
        system = lifecycle.Actor.system()
        lifecycle.record_event(ticket, "rated", system, data={"stars": 5})
        lifecycle.restart_clocks(ticket, {}, system)
        db.session.commit()
        assert {"me_too", "rated", "clocks_restarted"} <= set(_actions(ticket))
    assert plans == []


def test_an_illegal_transition_is_refused_with_a_message_not_a_500(
    app, client, officer, resident, monkeypatch
):
    number = resident.report(description="扶手松动")
    real = board_views.ticket_or_404

    def as_a_stale_page_saw_it(number):
        # The officer's request read the ticket as completed; it is dispatched.
        ticket = real(number)
        set_committed_value(ticket, "status", TicketStatus.COMPLETED)
        return ticket

    monkeypatch.setattr(board_views, "ticket_or_404", as_a_stale_page_saw_it)
    response = officer.act(number, "close")
    assert response.status_code == 303
    monkeypatch.undo()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "未执行：工单当前的状态不允许此操作" in page
    with app.app_context():
        ticket = _ticket(number)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.closed_at is None and "close" not in _actions(ticket)


@pytest.fixture
def no_redis(settings):
    settings["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens there
    return settings


def test_the_sweep_takes_the_rungs_itself_while_redis_is_down(no_redis, app, resident):
    with freeze_time(START) as clock:
        number = resident.report(description=URGENT_TEXT, spot="5楼")
        clock.tick(timedelta(minutes=31))  # past the reminder and the contact deadline
        with app.app_context():
            result = sweep()
            assert result["rungs"] == 1  # the reminder came too late to be sent
            ticket = _ticket(number)
            steps = db.session.scalars(
                sa.select(SlaStep.rung).where(SlaStep.ticket_id == ticket.id)
            ).all()
            assert sorted(steps) == ["breach", "remind"]
            assert ticket.escalated_at is not None
            assert ticket.contractor.phone != PRIMARY  # the backup has it
            assert sweep()["rungs"] == 0  # taken once


def test_without_a_backup_a_declined_job_waits_for_the_officer(app, client, resident):
    with app.app_context():
        db.session.execute(sa.update(Route).values(backup_contractor_id=None))
        db.session.commit()
    number = resident.report(description="扶手松动")
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    assert contractor.tap(link, "decline", reason="busy").status_code == 303
    with app.app_context():
        ticket = _ticket(number)
        assert ticket.status is TicketStatus.NEW
        assert ticket.accepted_at is None
        [assignment] = db.session.scalars(
            sa.select(Assignment).where(Assignment.ticket_id == ticket.id)
        ).all()
        assert assignment.end_reason is EndReason.DECLINED
        assert _actions(ticket)[-1] == "decline"


def test_without_a_backup_a_missed_contact_deadline_alerts_and_keeps_the_job(
    app, resident
):
    with freeze_time(START) as clock:
        with app.app_context():
            db.session.execute(sa.update(Route).values(backup_contractor_id=None))
            db.session.commit()
        number = resident.report(description=URGENT_TEXT, spot="5楼")
        clock.tick(timedelta(minutes=31))
        with app.app_context():
            ticket_id = _ticket(number).id
            assert escalate_if_overdue(ticket_id, "contact", "breach")
            ticket = _ticket(number)
            assert ticket.status is TicketStatus.DISPATCHED
            assert ticket.contractor.phone == PRIMARY
            escalated = [e for e in ticket.events if e.action == "escalated"]
            assert [e.data["rung"] for e in escalated] == ["breach"]
            assert "alert_officer" in escalated[0].data["actions"]
