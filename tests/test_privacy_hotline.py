"""12345 callers' personal information (PIPL): the caller's name and number and the
raw pushed work order are erased a set time after the ticket closes, or when the
caller asks, and listed in their export; statistics stay as they were."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.integrations.models import HotlineWorkOrder
from dispatch.sla.sweep import sweep
from repair import lifecycle
from repair.db import db
from repair.models import TicketEvent, TicketStatus
from repair.privacy import erase_expired, mask_name, mask_phone
from tests.actions import ContractorActions
from tests.factories import find_ticket, local_day
from tests.test_hotline import hotline, order, push  # noqa: F401  (a fixture)
from tests.test_privacy import _everything_stored, _statistics, _where

PRIMARY = "+8613800000001"
CALLER, CALLER_LOCAL = "+8613612345678", "13612345678"
CALLER_NAME = "王建国"
WORK_ORDER = "GD20261101007"


def _caller_order() -> dict:
    return order(
        number=WORK_ORDER,
        workordercontent=f"市民{CALLER_NAME}（{CALLER_LOCAL}）反映3栋2单元楼道灯不亮",
        contactname=CALLER_NAME,
        contactphone=CALLER_LOCAL,
    )


@pytest.fixture
def pushed(app, client, hotline) -> str:  # noqa: F811
    answer = push(client, _caller_order())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["ticket"]


@pytest.fixture
def closed(app, client, pushed) -> str:
    """The hotline's repair done and the ticket closed."""
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")
    assert contractor.complete(link, worker_name="王师傅").status_code == 303
    with app.app_context():
        ticket = find_ticket(pushed)
        lifecycle.transition(ticket, "close", lifecycle.Actor.system())
        db.session.commit()
        assert find_ticket(pushed).status is TicketStatus.CLOSED
    return pushed


def _work_order() -> HotlineWorkOrder:
    return db.session.scalar(
        sa.select(HotlineWorkOrder).where(HotlineWorkOrder.number == WORK_ORDER)
    )


def _erasures(number: str) -> list[dict]:
    ticket = find_ticket(number)
    return [
        event.data
        for event in db.session.scalars(
            sa.select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.action == "personal_data_erased",
            )
        )
    ]


def test_the_caller_is_kept_apart_from_the_ticket(app, pushed):
    with app.app_context():
        work_order = _work_order()
        assert (work_order.caller_name, work_order.caller_phone) == (
            CALLER_NAME,
            CALLER,
        )
        assert work_order.payload["contactphone"] == CALLER_LOCAL
        assert find_ticket(pushed).reporter_phone is None


def test_retention_erases_the_callers_data_and_keeps_statistics(
    app, client, officer, closed
):
    with app.app_context():
        ticket = find_ticket(closed)
        closed_at, day = ticket.closed_at, local_day(ticket)
        stored = _everything_stored()
        assert _where(CALLER_LOCAL, stored) and _where(CALLER_NAME, stored)

    with freeze_time(closed_at + timedelta(days=179)), app.app_context():
        assert erase_expired() == 0  # not yet
        assert _work_order().caller_phone == CALLER

    with freeze_time(closed_at + timedelta(days=180, seconds=1)):
        page_before, csv_before = _statistics(client, officer, day)
        with app.app_context():
            assert sweep()["personal_data_erased"] == 1
            assert sweep()["personal_data_erased"] == 0  # safe to run again
            stored = _everything_stored()
            for personal in (CALLER_LOCAL, CALLER_NAME):
                assert _where(personal, stored) == []
            work_order = _work_order()
            assert (work_order.caller_name, work_order.caller_phone) == (None, None)
            assert work_order.payload == {}
            assert work_order.personal_data_erased_at is not None
            assert work_order.number == WORK_ORDER  # the hotline's reference stays
            assert _erasures(closed) == [
                {"reason": "retention", "hotline_work_order": WORK_ORDER}
            ]
        page_after, csv_after = _statistics(client, officer, day)

    assert page_after == page_before
    # The CSV's figures are the same; its description shows the caller masked.
    masked = csv_before.replace(CALLER_LOCAL, mask_phone(CALLER_LOCAL)).replace(
        CALLER_NAME, mask_name(CALLER_NAME)
    )
    assert csv_after == masked and csv_after != csv_before
    assert closed in csv_before


def test_retention_waits_for_the_ticket_to_close(app, pushed):
    with app.app_context():
        received = _work_order().received_at
        assert erase_expired(received + timedelta(days=400)) == 0
        assert _work_order().caller_phone == CALLER


def test_export_and_erase_answer_a_callers_request(app, pushed):
    runner = app.test_cli_runner()

    exported = runner.invoke(args=["residents", "export", CALLER_LOCAL])

    assert exported.exit_code == 0, exported.output
    [work_order] = json.loads(exported.output)["hotline_work_orders"]
    assert work_order["work_order"] == WORK_ORDER
    assert (work_order["caller_name"], work_order["caller_phone"]) == (
        CALLER_NAME,
        CALLER,
    )
    assert work_order["ticket"] == pushed
    assert work_order["payload"]["contactname"] == CALLER_NAME

    erased = runner.invoke(args=["residents", "erase", CALLER_LOCAL, "--yes"])

    assert erased.exit_code == 0, erased.output
    assert "1 ticket" in erased.output
    with app.app_context():
        stored = _everything_stored()
        assert _where(CALLER_LOCAL, stored) == [] and _where(CALLER_NAME, stored) == []
        assert _erasures(pushed) == [
            {"reason": "request", "hotline_work_order": WORK_ORDER}
        ]
        assert find_ticket(pushed).status is not TicketStatus.CLOSED  # work goes on
    again = runner.invoke(args=["residents", "export", CALLER_LOCAL])
    assert json.loads(again.output)["hotline_work_orders"] == []


def test_an_order_from_before_callers_were_kept_apart_is_found_by_its_payload(
    app, pushed
):
    with app.app_context():
        work_order = _work_order()
        work_order.caller_name = work_order.caller_phone = None
        db.session.commit()
        from repair.privacy import erase_resident

        assert erase_resident(CALLER) == 1
        assert _where(CALLER_LOCAL, _everything_stored()) == []


def test_the_callers_number_written_otherwise_is_erased_too(app, client, hotline):  # noqa: F811
    """Found by the outside tester: only the number as stored left the texts."""
    content = (
        f"市民（{CALLER_LOCAL}，又 136-1234-5678 或 一三六一二三四五六七八）反映漏水"
    )
    answer = push(
        client,
        order(
            number=WORK_ORDER,
            workordercontent=content,
            contactname=CALLER_NAME,
            contactphone=CALLER_LOCAL,
        ),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    erased = app.test_cli_runner().invoke(
        args=["residents", "erase", CALLER_LOCAL, "--yes"]
    )
    assert erased.exit_code == 0, erased.output
    with app.app_context():
        stored = _everything_stored()
        for written in (CALLER_LOCAL, "136-1234-5678", "一三六一二三四"):
            assert _where(written, stored) == [], written
        description = find_ticket(answer.get_json()["ticket"]).description
        assert "[已删除]" in description and "反映漏水" in description
