"""Concurrency: twenty residents submitting at the same moment get twenty distinct
numbers; two actions on one ticket at the same moment leave one consistent story."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import requests
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from dispatch.assignment import work
from dispatch.assignment.routes import current_assignment
from dispatch.models import Assignment, EndReason
from dispatch.sla.escalation import escalate_if_overdue
from repair.db import db
from repair.models import (
    Channel,
    Community,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from tests.actions import ContractorActions, hidden_fields
from tests.factories import jpeg_bytes

PARALLEL = 20


def _submit(base_url: str, code: str, index: int) -> str:
    with requests.Session() as browser:
        form = hidden_fields(browser.get(f"{base_url}/q/{code}", timeout=30).text)
        response = browser.post(
            f"{base_url}/q/{code}",
            data={**form, "description": f"第{index}号：楼道灯不亮", "spot": "1楼"},
            files={
                "photos": (f"p{index}.jpg", jpeg_bytes(size=(640, 480)), "image/jpeg")
            },
            timeout=60,
        )
        response.raise_for_status()
        return re.search(r'id="ticket-number">([^<]+)<', response.text).group(1)


def test_parallel_submissions_get_distinct_numbers(app, live_server, entrance_code):
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        numbers = list(
            pool.map(lambda i: _submit(live_server, entrance_code, i), range(PARALLEL))
        )
    assert len(set(numbers)) == PARALLEL
    sequences = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequences == list(range(1, PARALLEL + 1))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == PARALLEL


TRIALS = 4
PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock


def _at_once(*actions):
    """Runs the actions in threads released at the same moment; returns results."""
    start = threading.Barrier(len(actions))

    def run(action):
        prepared = action()
        start.wait()
        return prepared()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(run, a) for a in actions]]


def _story(app, number: str) -> tuple[Ticket, list[TicketEvent], list[Assignment]]:
    db.session.expire_all()
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
    assignments = db.session.scalars(
        sa.select(Assignment).where(Assignment.ticket_id == ticket.id)
    ).all()
    return ticket, list(ticket.events), list(assignments)


def _job_link_tap(base_url: str, link: str, action: str, **fields):
    """Opens the job page (for its form token), then returns the tap to make."""
    browser = requests.Session()
    form = hidden_fields(browser.get(base_url + link, timeout=30).text)

    def tap():
        with browser:
            return browser.post(
                f"{base_url}{link}/{action}", data={**form, **fields}, timeout=60
            ).status_code

    return tap


def test_accept_and_decline_at_once_leave_one_consistent_outcome(
    app, live_server, resident
):
    for trial in range(TRIALS):
        number = resident.report(description=f"扶手松动 {trial}")
        with app.app_context():
            link = ContractorActions(None, PRIMARY).link()
        codes = _at_once(
            partial(_job_link_tap, live_server, link, "accept"),
            partial(_job_link_tap, live_server, link, "decline", reason="busy"),
        )
        assert all(code < 500 for code in codes)
        with app.app_context():
            ticket, events, assignments = _story(app, number)
            taps = [e.action for e in events if e.action in ("accept", "decline")]
            # Either tap may come first; a decline after the accept is a change of
            # mind, an accept after the decline finds the job gone (one each at most).
            assert taps in (["accept"], ["decline"], ["accept", "decline"]), taps
            primary = assignments[0].id
            assert all(
                e.data["assignment_id"] == primary
                for e in events
                if e.action in ("accept", "decline")
            )
            if taps == ["accept"]:
                assert ticket.status is TicketStatus.ACCEPTED and ticket.accepted_at
                assert ticket.contractor.phone == PRIMARY
                assert [a.role for a in assignments] == ["primary"]
            else:
                assert ticket.status is TicketStatus.DISPATCHED
                assert ticket.accepted_at is None
                assert ticket.contractor.phone == BACKUP
                assert [(a.role, a.end_reason) for a in assignments] == [
                    ("primary", EndReason.DECLINED),
                    ("backup", None),
                ]


def test_breach_job_and_accept_at_the_deadline_leave_one_consistent_outcome(
    app, resident
):
    for trial in range(TRIALS):
        number = resident.report(description=f"{URGENT_TEXT} {trial}", spot="5楼")
        with app.app_context():
            ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
            ticket_id, due = ticket.id, ticket.contact_due_at
            assignment_id = current_assignment(ticket).id

        escalated, accepted = _at_once(
            partial(_breach_job, app, ticket_id, due),
            partial(_contractor_accepts, app, assignment_id, due),
        )
        assert escalated != accepted
        with app.app_context():
            ticket, events, assignments = _story(app, number)
            actions = [e.action for e in events]
            if accepted:
                assert "escalated" not in actions
                assert ticket.status is TicketStatus.ACCEPTED and ticket.accepted_at
                assert ticket.contractor.phone == PRIMARY
                assert [a.role for a in assignments] == ["primary"]
            else:
                assert "accept" not in actions and "escalated" in actions
                assert ticket.status is TicketStatus.DISPATCHED
                assert ticket.accepted_at is None
                assert ticket.contractor.phone == BACKUP
                assert [a.role for a in assignments] == ["primary", "backup"]


def _breach_job(app, ticket_id: int, due):
    def run():
        with app.app_context():
            return escalate_if_overdue(ticket_id, "contact", "breach", now=due)

    return run


def _contractor_accepts(app, assignment_id: int, now):
    def run():
        with app.app_context():
            assignment = db.session.get(Assignment, assignment_id)
            try:
                accepted = work.accept(assignment, Channel.JOB_LINK, now=now)
            except work.JobMoved:
                db.session.rollback()  # what the job page does: "the job moved"
                return False
            db.session.commit()
            return accepted

    return run


def _resident_tap(base_url: str, number: str, key: str, action: str, **fields):
    """Opens the resident's tracking page (form token), returns the post to make."""
    browser = requests.Session()
    page = browser.get(f"{base_url}/t/{number}?k={key}", timeout=30).text
    form = {**hidden_fields(page.split('id="confirm"')[1]), "k": key}

    def tap():
        with browser:
            return browser.post(
                f"{base_url}/t/{number}/{action}", data={**form, **fields}, timeout=60
            ).status_code

    return tap


def test_confirm_and_not_fixed_at_once_leave_one_outcome(app, live_server, resident):
    # Outside tester: sent at the same moment, both succeeded: the ticket was
    # closed by the one and reopened by the other.
    for trial in range(TRIALS):
        number = resident.report(description=f"扶手松动 {trial}")
        contractor = ContractorActions(app.test_client(), PRIMARY)
        with app.app_context():
            link = contractor.link()
            key = db.session.scalar(
                sa.select(Ticket.resident_key).where(Ticket.number == number)
            )
        contractor.tap(link, "accept")
        contractor.complete(link, worker_name="王师傅")
        codes = _at_once(
            partial(_resident_tap, live_server, number, key, "confirm"),
            partial(_resident_tap, live_server, number, key, "not-fixed", note="晃"),
        )
        assert all(code < 500 for code in codes), codes
        with app.app_context():
            ticket, events, _ = _story(app, number)
            ends = [e.action for e in events if e.action in ("close", "reopen")]
            assert ends in (["close"], ["reopen"]), ends
            expected = (
                TicketStatus.CLOSED if ends == ["close"] else TicketStatus.DISPATCHED
            )
            assert ticket.status is expected


def _officer_at_board(base_url: str, username: str, password: str):
    browser = requests.Session()
    page = browser.get(f"{base_url}/board/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
    response = browser.post(
        f"{base_url}/board/login",
        data={"csrf_token": token, "username": username, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302
    return browser


def _board_action(browser, base_url: str, number: str, action: str, **fields):
    path = f"{base_url}/board/t/{number}"
    page = browser.get(path, timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)

    def act():
        response = browser.post(
            f"{path}/{action}",
            data={"csrf_token": token, **fields},
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code

    return act


def test_two_officers_ending_one_ticket_at_once_leave_one_outcome(
    app, live_server, resident, demo
):
    with app.app_context():
        community = db.session.get(Community, demo)
        for name in ("officer", "officer2"):
            user = db.session.scalar(sa.select(User).where(User.username == name))
            if user is None:
                user = User(username=name, role=Role.OFFICER, communities=[community])
                db.session.add(user)
            user.password_hash = generate_password_hash("two officers at once")
        db.session.commit()
    first = _officer_at_board(live_server, "officer", "two officers at once")
    second = _officer_at_board(live_server, "officer2", "two officers at once")
    original = resident.report(description="扶手松动")
    for trial in range(TRIALS):
        number = resident.report(description=f"扶手又松了 {trial}")
        codes = _at_once(
            partial(_board_action, first, live_server, number, "reject", reason="无"),
            partial(
                _board_action,
                second,
                live_server,
                number,
                "duplicate",
                original=original,
            ),
        )
        assert codes == [303, 303]
        with app.app_context():
            ticket, events, assignments = _story(app, number)
            actions = [e.action for e in events]
            assert ("reject" in actions) != ("mark_duplicate" in actions), actions
            expected = (
                TicketStatus.REJECTED if "reject" in actions else TicketStatus.DUPLICATE
            )
            assert ticket.status is expected and ticket.closed_at is not None
            assert (ticket.duplicate_of_id is not None) == (
                expected is TicketStatus.DUPLICATE
            )
            assert [a.end_reason for a in assignments] == [EndReason.WITHDRAWN]


def test_a_ticket_is_locked_once_per_transaction_and_again_in_the_next(app, resident):
    # A submission locked its own new ticket four times (assess, dispatch, the
    # assignment, the transition): four SELECT … FOR UPDATE of a row it already
    # held. A new transaction must lock (and read) it again.
    from repair import lifecycle

    number = resident.report()
    with app.app_context():
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
            statements.clear()
            for _ in range(3):
                lifecycle.lock(ticket)
            assert len(statements) == 1
            db.session.rollback()
            lifecycle.lock(ticket)
            assert len(statements) >= 2  # (the expired ticket is loaded first)
            before = len(statements)
            lifecycle.lock(ticket)
            assert len(statements) == before
            db.session.rollback()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
