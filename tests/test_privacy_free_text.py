"""Erasing a resident (PIPL) removes their number, however written, and their
name from the free texts that quote them: the description, the spot, the rating's
comment, event notes (the resident's "没有修好", the contractor's, the officer's),
the follow-up call's note, and so from the archive built afterwards (found by the
outside tester: the name and number stayed in the texts they typed)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pypdf
import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import FollowUpTask
from repair import lifecycle
from repair.db import db
from repair.models import Rating
from repair.privacy import REMOVED
from tests.actions import ContractorActions
from tests.factories import find_ticket
from tests.test_archive import _archive, _bare
from tests.test_follow_up import PRIMARY, START, Resident, _call
from tests.test_privacy import _everything_stored

NAME = "张伟"
PHONE = "13912345678"
#: The resident's number as they and others wrote it.
WRITTEN = [
    "139-1234-5678",
    "+86 139 1234 5678",
    "一三九一二三四五六七八",
    "139一2345六78",
    "壹叁玖壹贰叁肆伍陆柒捌",
    "139/1234/5678",
]
NEIGHBOUR = "137 0000 1111"  # someone else's number: not theirs to erase


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _complete(app, client, note: str) -> None:
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    response = contractor.complete(link, worker_name="王师傅", note=note)
    assert response.status_code in (200, 303)


def test_erasure_removes_the_number_and_name_from_free_texts_and_the_archive(
    app, clock, client, resident, officer, jobs, tmp_path
):
    number = resident.report(
        description=f"{NAME}家厕所漏水，电话 {WRITTEN[0]}，或打{WRITTEN[2]}；"
        f"邻居 {NEIGHBOUR} 家也漏",
        spot=f"2楼 找{NAME}",
        phone=PHONE,
        name=NAME,
    )
    jobs.run_due()
    _complete(app, client, f"已与{NAME}约好，{WRITTEN[5]}")
    reporter = Resident(client, number)
    clock.move_to(START + timedelta(hours=2))
    assert reporter.not_fixed(f"还在漏，打{WRITTEN[1]}").status_code == 303
    jobs.run_due()
    clock.move_to(START + timedelta(hours=4))
    _complete(app, client, f"换了阀门，{NAME}在家")
    clock.move_to(START + timedelta(hours=5))
    reporter.confirm()
    reporter.rate(1, f"{NAME}：修了两次才好，回电{WRITTEN[3]} 或 {WRITTEN[4]}")
    with app.app_context():
        ticket = find_ticket(number)
        task = db.session.scalar(
            sa.select(FollowUpTask).where(FollowUpTask.ticket_id == ticket.id)
        )
        task_id = task.id
    clock.move_to(START + timedelta(hours=6))
    note = f"已联系{NAME}（{PHONE}），已解决"
    response = _call(
        officer, number, task_id, reached="yes", outcome="resolved", note=note
    )
    assert response.status_code == 303
    with app.app_context():
        ticket = find_ticket(number)
        # A text to the resident that failed named them (as the archive noted).
        lifecycle.record_event(
            ticket,
            "sms_failed",
            lifecycle.Actor.system(),
            START + timedelta(hours=7),
            data={
                "recipient_type": "resident",
                "recipient_name": NAME,
                "to_phone": "+86" + PHONE,
                "error": "unreachable",
            },
        )
        db.session.commit()
        stored = _everything_stored()
        assert NAME in stored and WRITTEN[2] in stored and WRITTEN[4] in stored

    clock.move_to(START + timedelta(days=2))
    erased = app.test_cli_runner().invoke(args=["residents", "erase", PHONE, "--yes"])

    assert erased.exit_code == 0, erased.output
    # (The failed text's recipient stays masked, 139****5678, as everywhere.)
    needles = [NAME, PHONE, "1234-5678", "1234 5678", "1234/5678", "一三九一二"]
    needles += ["壹叁玖", "一2345六"]
    with app.app_context():
        stored = _everything_stored()
        for needle in needles:
            assert needle not in stored, (
                needle,
                [line[:300] for line in stored.splitlines() if needle in line],
            )
        assert NEIGHBOUR in stored
        ticket = find_ticket(number)
        assert ticket.description == (
            f"{REMOVED}家厕所漏水，电话 {REMOVED}，或打{REMOVED}；"
            f"邻居 {NEIGHBOUR} 家也漏"
        )
        assert ticket.spot == f"2楼 找{REMOVED}"
        rating = db.session.get(Rating, ticket.id)
        assert rating.comment == f"{REMOVED}：修了两次才好，回电{REMOVED} 或 {REMOVED}"
        events = {event.action: event for event in ticket.events}
        assert events["reopen"].note == f"还在漏，打{REMOVED}"
        assert events["follow_up_done"].note == f"已联系{REMOVED}（{REMOVED}），已解决"
        assert events["sms_failed"].data["recipient_name"] is None
        task = db.session.get(FollowUpTask, task_id)
        assert task.note == f"已联系{REMOVED}（{REMOVED}），已解决"
        assert task.done_by  # the officer's own name stays
        # The erasure says which kinds of fields changed, not what they said.
        erasure = events["personal_data_erased"]
        assert erasure.data["reason"] == "request"
        assert set(erasure.data["scrubbed"]) >= {
            "description",
            "spot",
            "rating_comment",
            "event_notes",
            "event_data",
            "follow_up_notes",
            "completion_note",
        }
        assert not any(needle in json.dumps(erasure.data) for needle in needles)
        assert ticket.completion_note == f"换了阀门，{REMOVED}在家"
        assert ticket.completed_by_name == "王师傅"  # the contractor's own name

    # The follow-up box on the board shows the comment scrubbed.
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    box = page.split('id="follow-up"')[1].split("</section>")[0]
    assert "修了两次才好" in box
    assert not any(needle in page for needle in needles)

    # The archive built afterwards: its JSON and PDF quote none of it.
    path = tmp_path / "archive.zip"
    result = _archive(app, path)
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(path)
    record = archive.read(f"{number}.json").decode()
    pdf = pypdf.PdfReader(io.BytesIO(archive.read(f"{number}.pdf")))
    text = _bare("\n".join(page.extract_text() for page in pdf.pages))
    assert REMOVED in record and _bare("修了两次才好") in text
    for needle in needles:
        assert needle not in record and needle not in text, needle


def test_only_the_erased_number_and_a_name_of_two_characters_or_more_go():
    from repair.privacy import phone_pattern, remove_personal

    pattern = phone_pattern({"+8613912345678"})
    for written in WRITTEN + ["８６－139 1234 5678", "139 - 1234 - 5678"]:
        assert remove_personal(f"电话{written}。", pattern, set()) == (
            f"电话{REMOVED}。"
        ), written
    untouched = "2026-11-22 10:30 3栋2单元 20cm 14楼 电话 139 1234 5679"
    assert remove_personal(untouched, pattern, {"张伟"}) == untouched
    # A copy cut short (an SMS summary) goes by its first seven numerals.
    assert remove_personal("打一三九一二三四…", pattern, set()) == f"打{REMOVED}…"
    assert phone_pattern({"+86123"}) is None  # too short to look for
    assert remove_personal("王师傅", None, set()) == "王师傅"
