"""JSON logs: one line per request and per job, a request id, the ticket number,
and never a resident's phone number."""

from __future__ import annotations

import json
import logging

import pytest

from dispatch.worker.queues import get_queues
from dispatch.worker.workers import RepairDeskWorker
from repair import create_app
from repair.logs import mask_phones
from repair.seed import seed_demo
from tests.actions import ResidentActions
from tests.test_resident_bad_input import _any_code

PHONE = "13800138000"


@pytest.fixture
def json_app(app, settings):
    with app.app_context():
        seed_demo(app.instance_path)
    yield create_app({**settings, "LOG_FORMAT": "json"})
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_StderrHandler"]:
        root.removeHandler(handler)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_submission_with_a_phone_logs_json_lines_without_the_phone(json_app, capfd):
    resident = ResidentActions(json_app.test_client(), _any_code(json_app))
    resident.open_form()
    response = resident.submit(
        reuse_form=True, phone=PHONE, headers={"X-Request-ID": "req-42"}
    )
    assert response.status_code == 303
    assert response.headers["X-Request-ID"] == "req-42"
    with json_app.app_context():  # a worker sends the messages to the contractor
        queues = get_queues(json_app)
        RepairDeskWorker(queues, connection=queues[0].connection).work(burst=True)

    output = capfd.readouterr().err
    assert PHONE not in output
    assert PHONE[-8:] not in output
    lines = _lines(output)
    posted = [
        line
        for line in lines
        if line.get("logger") == "repairdesk.request" and line.get("method") == "POST"
    ]
    assert len(posted) == 1
    assert posted[0]["request_id"] == "req-42"
    assert posted[0]["status"] == 303
    assert posted[0]["ticket"].count("-") == 2  # e.g. YG-20261122-0001
    jobs = [line for line in lines if line.get("logger") == "repairdesk.job"]
    assert jobs and all(line["status"] == "ok" and line["job_id"] for line in jobs)
    gets = [line for line in lines if line.get("method") == "GET"]
    assert gets and len({line["request_id"] for line in gets}) == len(gets)


def test_phone_numbers_are_masked_but_ticket_numbers_are_not():
    text = "SMS 3 to +8613800138000 failed; 138 0013 8000; ticket YG-20261122-0042"
    assert mask_phones(text) == (
        "SMS 3 to [phone] failed; [phone]; ticket YG-20261122-0042"
    )
