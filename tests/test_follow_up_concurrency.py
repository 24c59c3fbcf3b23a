"""Two ratings, two "没有修好" or two officers' calls at the same moment: one
rating, one follow-up task, one call recorded, and no error page (PostgreSQL's row
locks, SQLite's write lock)."""

from __future__ import annotations

import re
from functools import partial

import requests
import sqlalchemy as sa

from dispatch.models import FollowUpReason, FollowUpTask
from repair.db import db
from repair.models import Rating, TicketStatus
from tests.actions import hidden_fields
from tests.conftest import OFFICER_PASSWORD
from tests.factories import find_ticket, jpeg_bytes
from tests.test_concurrency import _at_once, _board_action, _officer_at_board
from tests.test_follow_up import RESIDENT_PHONE, Resident, _repair

TRIALS = 3


def _resident_post(
    base_url: str, number: str, key: str, form_id: str, action: str, **fields
):
    """Opens the private tracking page in a browser of its own (for the form's
    tokens), then returns the post to make."""
    browser = requests.Session()
    html = browser.get(f"{base_url}/t/{number}?k={key}", timeout=30).text
    section = html.split(f'id="{form_id}"')[1]
    form = {
        **hidden_fields(section),
        **dict(re.findall(r'name="(csrf_token|k)"[^>]*?value="([^"]*)"', section)),
    }

    def post():
        with browser:
            files = None
            if action == "not-fixed":
                files = {"photos": ("still.jpg", jpeg_bytes(), "image/jpeg")}
            return browser.post(
                f"{base_url}/t/{number}/{action}",
                data={**form, **fields},
                files=files,
                allow_redirects=False,
                timeout=60,
            ).status_code

    return post


def _tasks(number: str) -> list[FollowUpTask]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(FollowUpTask).where(
                FollowUpTask.ticket_id == find_ticket(number).id
            )
        )
    )


def test_two_low_ratings_at_once_make_one_rating_and_one_task(
    app, client, live_server, resident, officer
):
    for trial in range(TRIALS):
        number = resident.report(
            description=f"{trial + 2}楼扶手松动", phone=RESIDENT_PHONE
        )
        _repair(app, client, number)
        assert Resident(client, number).confirm().status_code == 303
        with app.app_context():
            key = find_ticket(number).resident_key
        codes = _at_once(
            partial(
                _resident_post,
                live_server,
                number,
                key,
                "rating-form",
                "rate",
                stars="1",
                comment="没修好",
            ),
            partial(
                _resident_post,
                live_server,
                number,
                key,
                "rating-form",
                "rate",
                stars="2",
                comment="太慢",
            ),
        )
        assert all(code < 500 for code in codes), codes
        with app.app_context():
            ticket = find_ticket(number)
            ratings = db.session.scalars(
                sa.select(Rating).where(Rating.ticket_id == ticket.id)
            ).all()
            assert len(ratings) == 1
            assert [e.action for e in ticket.events].count("rated") == 1
            [task] = _tasks(number)
            assert task.reason is FollowUpReason.LOW_RATING
            assert [e.action for e in ticket.events].count("follow_up_opened") == 1


def test_two_second_not_fixed_at_once_make_one_task(
    app, client, live_server, resident, officer
):
    for trial in range(TRIALS):
        number = resident.report(
            description=f"{trial + 2}楼楼道灯不亮", phone=RESIDENT_PHONE
        )
        _repair(app, client, number)
        assert Resident(client, number).not_fixed("第一次").status_code == 303
        _repair(app, client, number)
        with app.app_context():
            key = find_ticket(number).resident_key
        codes = _at_once(
            partial(
                _resident_post,
                live_server,
                number,
                key,
                "not-fixed-form",
                "not-fixed",
                note="还是不亮",
            ),
            partial(
                _resident_post,
                live_server,
                number,
                key,
                "not-fixed-form",
                "not-fixed",
                note="灯还是坏的",
            ),
        )
        assert all(code < 500 for code in codes), codes
        with app.app_context():
            ticket = find_ticket(number)
            reopens = [e for e in ticket.events if e.action == "reopen"]
            assert len(reopens) == 2  # the first, and one of the two at once
            assert ticket.status is TicketStatus.DISPATCHED
            [task] = _tasks(number)
            assert task.reason is FollowUpReason.REOPENED


def test_two_officers_recording_the_call_at_once_record_it_once(
    app, client, live_server, resident, officer
):
    board = [
        _officer_at_board(live_server, "officer", OFFICER_PASSWORD) for _ in range(2)
    ]
    for trial in range(TRIALS):
        number = resident.report(
            description=f"{trial + 2}楼扶手松动", phone=RESIDENT_PHONE
        )
        _repair(app, client, number)
        someone = Resident(client, number)
        someone.confirm()
        someone.rate(1, "很差")
        with app.app_context():
            task_id = _tasks(number)[0].id
        codes = _at_once(
            *(
                partial(
                    _board_action,
                    officer_browser,
                    live_server,
                    number,
                    f"follow-up/{task_id}",
                    reached="yes",
                    outcome=outcome,
                )
                for officer_browser, outcome in zip(
                    board, ("resolved", "explained"), strict=True
                )
            )
        )
        assert codes == [303, 303], codes
        with app.app_context():
            [task] = _tasks(number)
            assert task.done_at is not None and task.attempts == 1
            events = [e.action for e in find_ticket(number).events]
            assert events.count("follow_up_done") == 1
