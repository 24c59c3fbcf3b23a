"""The contractor going on and the officer approving the pause at the same moment
leave one consistent story, on PostgreSQL (row locks) and SQLite alike."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial

import requests
import sqlalchemy as sa

from repair.db import db, utcnow
from repair.models import PauseState, Ticket, TicketPause
from tests.actions import ContractorActions
from tests.conftest import OFFICER_PASSWORD
from tests.test_concurrency import (
    PRIMARY,
    _at_once,
    _board_action,
    _job_link_tap,
    _officer_at_board,
)

TRIALS = 4


def _local_input(hours: int) -> str:
    return (utcnow() + timedelta(hours=hours + 8)).strftime("%Y-%m-%dT%H:%M")


def test_resume_racing_the_approval_leaves_one_consistent_outcome(
    app, live_server, resident, officer
):
    board = _officer_at_board(live_server, "officer", OFFICER_PASSWORD)
    outcomes = set()
    for trial in range(TRIALS):
        number = resident.report(description=f"楼道灯不亮 {trial}", spot="2楼")
        with app.app_context():
            link = ContractorActions(None, PRIMARY).links()[0]
        page = requests.Session()
        for action, fields in (
            ("accept", {}),
            (
                "pause",
                {
                    "reason": "parts",
                    "detail": "等配件",
                    "resume_at": _local_input(4),
                },
            ),
        ):
            form = dict(
                re.findall(
                    r'name="(csrf_token)" type="hidden" value="([^"]+)"',
                    page.get(live_server + link, timeout=30).text,
                )[:1]
            )
            response = page.post(
                f"{live_server}{link}/{action}", data={**form, **fields}, timeout=30
            )
            assert response.status_code == 200, (action, response.status_code)
        with app.app_context():
            ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
            [pause] = ticket.pauses
            assert pause.state is PauseState.REQUESTED
            pause_id = pause.id
        codes = _at_once(
            partial(_job_link_tap, live_server, link, "resume"),
            partial(
                _board_action,
                board,
                live_server,
                number,
                "pause/approve",
                pause_id=str(pause_id),
            ),
        )
        assert all(code < 500 for code in codes), codes
        with app.app_context():
            db.session.expire_all()
            ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
            actions = [
                e.action
                for e in ticket.events
                if e.action.startswith("pause_") or e.action == "resumed"
            ]
            pauses = db.session.scalars(
                sa.select(TicketPause).where(TicketPause.ticket_id == ticket.id)
            ).all()
            # Either the approval came first (and the contractor's tap ended the
            # pause it started) or the withdrawal did (and nothing was approved).
            assert actions in (
                ["pause_requested", "pause_approved", "resumed"],
                ["pause_requested", "pause_withdrawn"],
            ), actions
            assert ticket.paused_at is None
            assert [p.state for p in pauses] == [
                PauseState.ENDED if "resumed" in actions else PauseState.WITHDRAWN
            ]
            if "resumed" in actions:
                # The deadline moved by exactly the (short) time paused.
                [pause] = pauses
                assert ticket.paused_seconds == pause.paused_seconds
            outcomes.add(actions[-1])
    assert outcomes  # at least one trial ran through
