"""The 12345 hotline's own deadline as a clock on the ticket: shown when it is the
earlier one, reminded ahead of, breached once, stopped by the completion."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from werkzeug.security import generate_password_hash

from dispatch.models import OutboxMessage, SlaStep
from dispatch.sla.escalation import deadlines_for
from dispatch.sla.sweep import sweep
from dispatch.stats import queries
from repair import lifecycle
from repair.db import db
from repair.models import Ticket, Urgency, User
from tests.actions import ContractorActions, OfficerActions
from tests.factories import find_ticket
from tests.test_hotline import PRIMARY, hotline, order, push  # noqa: F401 (fixture)

#: 10:00 in Shanghai on 2 January; "processlimited": "2026-01-02" ends at
#: midnight local, 16:00 UTC, earlier than our 24 h on-site deadline.
START = "2026-01-02 02:00:00"
HOTLINE_DUE = datetime(2026, 1, 2, 16, 0, tzinfo=UTC)
PASSWORD = "a long enough password"


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def log_in(app, client, username: str = "officer") -> OfficerActions:
    """Logs a demo staff member in at the frozen time (a session from the real
    clock would be from the future)."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        user.password_hash = generate_password_hash(PASSWORD)
        db.session.commit()
    actions = OfficerActions(client)
    assert actions.log_in(username, PASSWORD).status_code == 302
    return actions


def _confirm_general(app, number: str) -> None:
    with app.app_context():
        ticket = find_ticket(number)
        lifecycle.assess(
            ticket,
            Urgency.GENERAL,
            lifecycle.Actor.system(),
            deadlines=deadlines_for(ticket, "general"),
            confirmed=True,
        )
        db.session.commit()


def _card(page: str, number: str) -> str:
    match = re.search(
        rf'<article class="ticket-card[^"]*" data-number="{number}".*?</article>',
        page,
        re.S,
    )
    assert match, f"no card for {number}"
    return match.group(0)


def _section_of(page: str, number: str) -> str:
    sections = re.split(r'<section class="board-section section-', page)[1:]
    return next(s.split('"')[0] for s in sections if f'data-number="{number}"' in s)


def _hotline_steps(app, number: str) -> list[tuple[str, datetime]]:
    with app.app_context():
        ticket = find_ticket(number)
        return [
            (step.rung, step.due_at)
            for step in db.session.scalars(
                sa.select(SlaStep).where(
                    SlaStep.ticket_id == ticket.id, SlaStep.clock == "hotline"
                )
            )
        ]


def _sweep(app) -> None:
    with app.app_context():
        sweep()


def _outbox(app, template: str) -> list[OutboxMessage]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.template == template)
            )
        )


@pytest.mark.usefixtures("hotline")
def test_the_earlier_of_ours_and_the_hotlines_deadline_is_shown(
    app, client, jobs, clock
):
    log_in(app, client)
    soon = push(client, order(number="GD-SOON", processlimited="2026-01-02"))
    later = push(
        client,
        order(number="GD-LATER", place="阳光花园3栋1单元", processlimited="2026-01-09"),
    )
    soon, later = soon.get_json()["ticket"], later.get_json()["ticket"]
    jobs.run_due()
    _confirm_general(app, soon)
    _confirm_general(app, later)
    with app.app_context():
        ticket = find_ticket(soon)
        assert ticket.hotline_due_at == HOTLINE_DUE
        assert ticket.on_site_due_at > HOTLINE_DUE
        assert ticket.next_deadline() == ("hotline", HOTLINE_DUE)
        assert ticket.next_due_at == HOTLINE_DUE
        other = find_ticket(later)
        assert other.next_deadline()[0] == "on_site"
        assert other.next_due_at == other.on_site_due_at

    page = client.get("/board").get_data(as_text=True)
    card = _card(page, soon)
    assert 'data-clock="hotline"' in card and "热线办结时限 01-03 00:00" in card
    assert 'data-clock="on_site"' in _card(page, later)
    # The board sorts by the next deadline: the hotline's comes first.
    assert page.index(f'data-number="{soon}"') < page.index(f'data-number="{later}"')

    detail = client.get(f"/board/t/{soon}").get_data(as_text=True)
    assert re.search(
        r"下一时限</dt><dd><strong[^>]*>2026-01-03 00:00[^<]*</strong>"
        r" \(热线办结时限\)",
        detail,
    )
    assert 'id="hotline-due"' in detail


@pytest.mark.usefixtures("hotline")
def test_the_hotline_clock_reminds_ahead_and_its_breach_is_recorded_once(
    app, client, jobs, clock
):
    log_in(app, client)
    number = push(client, order(processlimited="2026-01-02")).get_json()["ticket"]
    jobs.run_due()
    _confirm_general(app, number)
    with app.app_context():
        ticket_id = find_ticket(number).id
    remind, breach = (
        f"sla-{ticket_id}-hotline-remind",
        f"sla-{ticket_id}-hotline-breach",
    )
    assert {remind, breach} <= jobs.scheduled_ids()
    assert jobs.scheduled_at(remind) == datetime(2026, 1, 2, 14, 0, tzinfo=UTC)

    clock.move_to("2026-01-02 14:00:01")
    jobs.run_due()
    [reminder] = _outbox(app, "officer_due_soon")
    assert number in reminder.body and "热线时限" in reminder.body
    assert reminder.variables["clock"] == "热线时限"
    assert reminder.variables["due"].endswith("00:00")
    with app.app_context():
        assert find_ticket(number).escalated_at is None  # not late yet
    page = client.get("/board").get_data(as_text=True)
    assert _section_of(page, number) != "breached"

    clock.move_to("2026-01-02 16:00:01")
    jobs.run_due()
    _sweep(app)
    jobs.run_due()
    clock.move_to("2026-01-02 16:30:00")
    _sweep(app)
    jobs.run_due()
    assert sorted(_hotline_steps(app, number)) == [
        ("breach", HOTLINE_DUE),
        ("remind", HOTLINE_DUE),
    ]
    with app.app_context():
        ticket = find_ticket(number)
        breaches = [
            e
            for e in ticket.events
            if e.action == "escalated" and e.data["clock"] == "hotline"
        ]
        assert len(breaches) == 1 and ticket.escalated_at is not None
        now = datetime(2026, 1, 2, 16, 30, tzinfo=UTC)
        compliance = queries.compliance(Ticket.id == ticket.id, now)["hotline"]
        assert (compliance.overdue, compliance.met) == (1, 0)
    alerts = _outbox(app, "officer_breach")
    assert {m.recipient_type for m in alerts} == {"officer", "supervisor"}
    assert all("热线时限" in m.body for m in alerts) and len(alerts) == 2
    page = client.get("/board").get_data(as_text=True)
    assert _section_of(page, number) == "breached"
    stats = client.get("/board/stats").get_data(as_text=True)
    assert 'id="clock-hotline"' in stats


@pytest.mark.usefixtures("hotline")
def test_completion_stops_the_hotline_clock_and_its_jobs(app, client, jobs, clock):
    number = push(client, order(processlimited="2026-01-02")).get_json()["ticket"]
    jobs.run_due()
    with app.app_context():
        ticket_id = find_ticket(number).id
    hotline_jobs = {
        f"sla-{ticket_id}-hotline-remind",
        f"sla-{ticket_id}-hotline-breach",
    }
    assert hotline_jobs <= jobs.scheduled_ids()

    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")
    assert contractor.complete(link, worker_name="王师傅").status_code == 303
    jobs.run_due()
    assert not hotline_jobs & jobs.scheduled_ids()
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.pending_clocks() == [] and ticket.next_due_at is None

    clock.move_to("2026-01-02 18:00:00")
    _sweep(app)
    jobs.run_due()
    assert _hotline_steps(app, number) == []
    assert _outbox(app, "officer_due_soon") == []
    with app.app_context():
        now = datetime(2026, 1, 2, 18, tzinfo=UTC)
        compliance = queries.compliance(Ticket.id == ticket_id, now)["hotline"]
        assert (compliance.met, compliance.overdue) == (1, 0)
