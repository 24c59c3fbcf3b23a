"""Residents' personal information: masked, revealed on purpose, erased in time."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.sla.sweep import sweep
from repair.db import db
from repair.models import TicketEvent, TicketFollower, TicketStatus
from repair.privacy import erase_expired, mask_name, mask_phone
from tests.actions import ContractorActions, hidden_fields
from tests.conftest import OFFICER_PASSWORD
from tests.factories import find_ticket, local_day

PRIMARY = "+8613800000001"
RESIDENT, LOCAL = "+8613912345678", "13912345678"
FOLLOWER = "+8613700001111"
NAME = "李秀英"


def test_masking_keeps_the_first_three_and_last_four_digits():
    assert mask_phone("+8613912345678") == "139****5678"
    assert mask_phone("13912345678") == "139****5678"
    # from abroad, with its country code (tester: +1 415 555 0134 read 141****0134)
    assert mask_phone("+447700900123") == "+44 770****0123"
    assert mask_phone("+14155550134") == "+1 415****0134"
    assert mask_phone(None) == ""
    assert mask_name("李秀英") == "李**"
    assert mask_name("") == ""


def _form(client, path: str, form_id: str) -> dict:
    html = client.get(path).get_data(as_text=True)
    section = html.split(f'id="{form_id}"')[1]
    fields = dict(
        re.findall(r'name="(csrf_token|k|kept_photos)"[^>]*?value="([^"]*)"', section)
    )
    return {**hidden_fields(section), **fields}


@pytest.fixture
def accepted(app, client, resident) -> tuple[str, str]:
    """A loose handrail reported with a number and a name, then accepted."""
    number = resident.report(description="扶手松动", phone=LOCAL, name=NAME)
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    return number, link


def test_officer_sees_the_resident_masked_until_revealing_which_is_recorded(
    app, client, officer, accepted
):
    number, _link = accepted
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    assert LOCAL not in page and NAME not in page
    assert "139****5678" in page and "李**" in page

    response = officer.act(number, "reveal")

    revealed = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'href="tel:{RESIDENT}"' in revealed and NAME in revealed
    assert "no-store" in response.headers["Cache-Control"]
    with app.app_context():
        [event] = [
            e
            for e in find_ticket(number).events
            if e.action == "personal_data_revealed"
        ]
        assert event.actor_type.value == "officer"
        assert event.actor_id is not None
        assert event.data == {"fields": ["phone", "name"]}
    # The next visit is masked again.
    assert LOCAL not in client.get(f"/board/t/{number}").get_data(as_text=True)


def test_lists_statistics_and_csv_never_show_the_number(app, client, officer, accepted):
    number, _link = accepted
    for path in (
        "/board",
        "/board/cards",
        "/board/stats",
        "/board/stats.csv",
        f"/t/{number}",
    ):
        body = client.get(path).get_data(as_text=True)
        assert LOCAL not in body and NAME not in body, path


def test_contractor_calls_through_a_button_without_seeing_the_number(
    app, client, accepted
):
    _number, link = accepted
    page = client.get(link).get_data(as_text=True)
    assert f'href="tel:{RESIDENT}"' in page
    assert page.count(LOCAL) == 1  # only inside the tel: link
    assert NAME not in page


def test_job_code_page_has_no_resident_data(app, client, accepted):
    assert client.get("/j").status_code == 200


def _where(needle: str, stored: str) -> list[str]:
    return [line[:300] for line in stored.splitlines() if needle in line]


def _everything_stored() -> str:
    """Returns every row of every table as text."""
    rows = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            rows.append(json.dumps([str(value) for value in row], ensure_ascii=False))
    return "\n".join(rows)


@pytest.fixture
def closed(app, client, accepted) -> str:
    """The repair completed, confirmed by the resident, with a "me too" follower."""
    number, link = accepted
    ContractorActions(client, PRIMARY).complete(link, worker_name="王师傅")
    with app.app_context():
        ticket = find_ticket(number)
        db.session.add(TicketFollower(ticket_id=ticket.id, phone=FOLLOWER))
        db.session.commit()
        private = f"/t/{number}?k={ticket.resident_key}"
    client.post(f"/t/{number}/confirm", data=_form(client, private, "confirm"))
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.CLOSED
    return number


def _statistics(client, officer, day: str) -> tuple[str, str]:
    officer.log_in("officer", OFFICER_PASSWORD)  # months later: a new session
    query = f"from={day}&to={day}&lang=en"
    page = client.get(f"/board/stats?{query}").get_data(as_text=True)
    csv = client.get(f"/board/stats.csv?{query}").get_data(as_text=True)
    # Each response has its own CSP nonce and CSRF token; nothing else may differ.
    page = re.sub(r'(nonce|value)="[A-Za-z0-9_\-.=]{16,}"', "", page)
    return page, csv


def test_retention_erases_numbers_and_names_and_keeps_statistics(
    app, client, officer, closed
):
    with app.app_context():
        ticket = find_ticket(closed)
        closed_at, day = ticket.closed_at, local_day(ticket)
        assert LOCAL in _everything_stored()

    with freeze_time(closed_at + timedelta(days=179)), app.app_context():
        assert erase_expired() == 0  # not yet
        assert find_ticket(closed).reporter_phone == RESIDENT

    with freeze_time(closed_at + timedelta(days=180, seconds=1)):
        before = _statistics(client, officer, day)
        with app.app_context():
            assert sweep()["personal_data_erased"] == 1
            assert sweep()["personal_data_erased"] == 0  # safe to run again
            stored = _everything_stored()
            for personal in (LOCAL, FOLLOWER[3:], NAME):
                assert _where(personal, stored) == []
            ticket = find_ticket(closed)
            assert (ticket.reporter_phone, ticket.reporter_name) == (None, None)
            erased = db.session.scalar(
                sa.select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket.id,
                    TicketEvent.action == "personal_data_erased",
                )
            )
            assert erased.data == {"reason": "retention", "numbers": 2, "scrubbed": []}
        after = _statistics(client, officer, day)

    assert after == before
    assert closed in before[1]  # the export still lists the ticket
    assert 'id="stats"' in before[0] or "Statistics" in before[0]


def test_retention_period_is_a_setting(app, closed):
    app.config["PERSONAL_DATA_DAYS"] = 30
    with app.app_context():
        closed_at = find_ticket(closed).closed_at
        assert erase_expired(closed_at + timedelta(days=29)) == 0
        assert erase_expired(closed_at + timedelta(days=31)) == 1


def test_residents_export_and_erase_answer_a_request(app, closed, accepted):
    runner = app.test_cli_runner()

    exported = runner.invoke(args=["residents", "export", LOCAL])

    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert data["phone"] == RESIDENT
    assert [t["number"] for t in data["tickets"]] == [closed]
    assert data["tickets"][0]["name"] == NAME
    assert data["messages"] and all(m["kind"] for m in data["messages"])

    erased = runner.invoke(args=["residents", "erase", LOCAL, "--yes"])

    assert erased.exit_code == 0, erased.output
    assert "1 ticket" in erased.output
    with app.app_context():
        stored = _everything_stored()
        assert _where(LOCAL, stored) == [] and _where(NAME, stored) == []
        assert FOLLOWER in stored  # someone else's number stays
        assert find_ticket(closed).status is TicketStatus.CLOSED
    again = runner.invoke(args=["residents", "export", LOCAL])
    assert json.loads(again.output)["tickets"] == []


def test_report_form_carries_the_privacy_notice(client, entrance_code):
    zh = client.get(f"/q/{entrance_code}").get_data(as_text=True)
    assert 'id="privacy-notice"' in zh and "180 天后删除" in zh
    en = client.get(f"/q/{entrance_code}?lang=en").get_data(as_text=True)
    assert "erased 180 days after the report is closed" in en
