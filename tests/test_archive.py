"""Archives (档案): a year's ended tickets as PDF and JSON that agree with the
database, with photos, an index and checksums; the board's download per ticket."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pypdf
import pytest
from freezegun import freeze_time

from repair import lifecycle
from repair.db import db
from repair.models import ActorType, Channel, PauseState, TicketStatus
from repair.privacy import erase_ticket
from tests.actions import (
    ContractorActions,
    OfficerActions,
    ResidentActions,
    make_other_community,
)
from tests.factories import find_ticket, jpeg_bytes
from tests.test_resident_follow_through import _form

START = datetime(2026, 11, 22, 2, 0, 0, tzinfo=UTC)  # 10:00 in Shanghai
PRIMARY = "+8613800000001"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _local(when: datetime) -> str:
    return (when + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def story(clock, app, client, resident, officer, jobs) -> str:
    """A ticket with photos, a pause, a reopen, a rating and an erasure, closed."""
    number = resident.report(
        description="2楼楼道灯不亮了", spot="2楼", phone="13912345678", name="张伟"
    )
    jobs.run_due()
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    assert contractor.tap(link, "accept").status_code == 303
    officer.act(number, "triage", urgency="general", category="lighting")
    clock.move_to(START + timedelta(hours=1))
    contractor.tap(
        link,
        "pause",
        reason="parts",
        detail="灯具配件明早到货",
        resume_at=_local(START + timedelta(hours=20)),
    )
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    pause_id = re.search(r'name="pause_id" type="hidden" value="(\d+)"', page)[1]
    officer.act(number, "pause/approve", pause_id=pause_id)
    clock.move_to(START + timedelta(hours=18))
    contractor.tap(link, "resume")
    contractor.complete(link, worker_name="王师傅", note="更换了灯具")
    jobs.run_due()
    with app.app_context():
        private = f"/t/{number}?k={find_ticket(number).resident_key}"
    clock.move_to(START + timedelta(hours=20))
    form = _form(client, private, "not-fixed-form")
    client.post(
        f"/t/{number}/not-fixed",
        data={
            **form,
            "note": "灯还是一闪一闪",
            "photos": [(io.BytesIO(jpeg_bytes(color=(200, 60, 60))), "still.jpg")],
        },
        content_type="multipart/form-data",
    )
    jobs.run_due()
    clock.move_to(START + timedelta(hours=26))
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="李师傅", note="换了镇流器")
    jobs.run_due()
    clock.move_to(START + timedelta(hours=30))
    client.post(f"/t/{number}/confirm", data=_form(client, private, "confirm"))
    rating = _form(client, private, "rating-form")
    client.post(f"/t/{number}/rate", data={**rating, "stars": "4", "comment": "修得好"})
    clock.move_to(START + timedelta(days=3))
    with app.app_context():
        ticket = find_ticket(number)
        # A text to the resident that failed names them (dispatch/messaging/delivery).
        lifecycle.record_event(
            ticket,
            "sms_failed",
            lifecycle.Actor.system(),
            START + timedelta(hours=31),
            data={
                "recipient_type": "resident",
                "recipient_name": "张伟",
                "to_phone": "+8613912345678",
                "error": "unreachable",
            },
        )
        assert erase_ticket(ticket, START + timedelta(days=3), "request")
        db.session.commit()
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.CLOSED
        actions = [event.action for event in ticket.events]
        assert {"pause_approved", "resumed", "reopen", "rated"} <= set(actions)
        assert actions[-1] == "personal_data_erased"
        assert [p.purpose for p in ticket.photos] == [
            "report",
            "completion",
            "reopen",
            "completion",
        ]
        assert all(photo.state == "ready" for photo in ticket.photos)
    return number


def _archive(app, path, slug="yangguang", year="2026"):
    args = ["archive", "--community", slug, "--year", year, "-o", str(path)]
    return app.test_cli_runner().invoke(args=args)


def _shown(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S +08:00")


def _bare(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_archive_pdf_and_json_agree_with_the_database(app, client, story, tmp_path):
    path = tmp_path / "archive.zip"
    result = _archive(app, path)
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(path)
    record = json.loads(archive.read(f"{story}.json"))
    pdf = pypdf.PdfReader(io.BytesIO(archive.read(f"{story}.pdf")))
    text = _bare("\n".join(page.extract_text() for page in pdf.pages))
    # The board's own page, in Chinese and in English, names the events so.
    board = {
        lang: client.get(f"/board/t/{story}?lang={lang}").get_data(as_text=True)
        for lang in ("zh_CN", "en")
    }
    with app.app_context():
        ticket = find_ticket(story)
        assert record["number"] == ticket.number
        assert record["ticket"]["description"] == ticket.description
        assert record["ticket"]["closed_at"] == ticket.closed_at.astimezone(
            SHANGHAI
        ).isoformat(timespec="seconds")
        assert record["ticket"]["closed_at"].endswith("+08:00")
        # Every event, in order, with who, when and through which channel.
        assert [e["action"] for e in record["timeline"]] == [
            e.action for e in ticket.events
        ]
        for shown, event in zip(record["timeline"], ticket.events, strict=True):
            assert shown["at"] == event.at.astimezone(SHANGHAI).isoformat(
                timespec="seconds"
            )
            assert (shown["actor_type"], shown["channel"], shown["note"]) == (
                event.actor_type.value,
                event.channel.value,
                event.note,
            )
            assert shown["label"]["zh"] in board["zh_CN"]
            assert shown["label"]["en"] in board["en"]
            assert shown["channel_label"]["zh"] in board["zh_CN"]
            assert _bare(_shown(event.at) + shown["label"]["zh"]) in text
            assert _bare(shown["label"]["en"]) in text
            if event.note:
                assert _bare(event.note) in text
        assert "已重新打开" in text and "灯还是一闪一闪" in text
        reopen = next(e for e in record["timeline"] if e["action"] == "reopen")
        assert reopen["actor_type"] == "resident" and reopen["actor"] is None
        # The erasure: no name or number left, the erasure an event of its own.
        erased = record["timeline"][-1]
        assert erased["action"] == "personal_data_erased"
        assert erased["detail"] == {"zh": "本人申请", "en": "the resident's request"}
        assert record["resident"] == {
            "name": None,
            "phone": None,
            "erased_at": erased["at"],
        }
        raw = archive.read(f"{story}.json").decode() + text
        assert "13912345678" not in raw and "张伟" not in raw and "张*" not in raw
        # Photos: each one's display copy, named and checksummed by its hash.
        assert [(p["purpose"], p["sha256"]) for p in record["photos"]] == [
            (p.purpose, p.sha256) for p in ticket.photos
        ]
        for photo in ticket.photos:
            data = archive.read(f"photos/{photo.sha256}.jpg")
            assert hashlib.sha256(data).hexdigest() == photo.sha256
        assert len([p for p in record["photos"] if p["file"]]) == 4
        images = sum(len(page.images) for page in pdf.pages)
        assert images == 4
        assert text.count(_bare("完工照片 Completion photo")) == 2
        # The pause, the rating, the contractor's notes.
        (pause,) = ticket.pauses
        assert pause.state is PauseState.ENDED
        assert record["pauses"][0]["paused_seconds"] == pause.paused_seconds
        assert record["pauses"][0]["started_at"] == pause.started_at.astimezone(
            SHANGHAI
        ).isoformat(timespec="seconds")
        assert _bare(pause.reason) in text
        assert record["rating"]["stars"] == ticket.rating.stars == 4
        assert record["rating"]["comment"] == ticket.rating.comment == "修得好"
        assert "★★★★☆4/5" in text and "修得好" in text
        assert "换了镇流器" in text and "李师傅" in text
    index = json.loads(archive.read("index.json"))
    assert index["year"] == 2026 and index["count"] == 1
    assert index["tickets"][0]["number"] == story
    assert index["tickets"][0]["stars"] == 4
    csv = archive.read("index.csv").decode("utf-8-sig").splitlines()
    assert csv[0].startswith("number,status,category")
    assert csv[1].startswith(f"{story},closed,")


def test_the_checksums_verify_and_the_archive_is_made_again_byte_for_byte(
    app, story, tmp_path
):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert _archive(app, first).exit_code == 0
    assert _archive(app, second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_mode & 0o777 == 0o600  # residents' words: owner only
    archive = zipfile.ZipFile(first)
    names = set(archive.namelist())
    assert {f"{story}.pdf", f"{story}.json", "index.json", "index.csv"} <= names
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    folder = tmp_path / "out"
    archive.extractall(folder)
    listed = archive.read("SHA256SUMS").decode().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in listed) == sorted(
        names - {"SHA256SUMS"}
    )
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (folder / f"{story}.json").write_text("{}")
    tampered = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert tampered.returncode == 1 and f"{story}.json: FAILED" in tampered.stdout


def test_the_command_explains_what_it_cannot_do(app, story, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    unknown = _archive(app, out / "x.zip", slug="nowhere")
    assert unknown.exit_code == 2
    assert "no community 'nowhere'" in unknown.output
    assert "yangguang" in unknown.output  # the ones that exist
    empty = _archive(app, out / "x.zip", year="2025")
    assert empty.exit_code == 3
    assert "nothing written" in empty.output
    missing = _archive(app, out / "no-such-folder" / "x.zip")
    assert missing.exit_code == 1
    assert "cannot write" in missing.output and "No such file" in missing.output
    (out / "dir.zip").mkdir()
    folder = _archive(app, out / "dir.zip")
    assert folder.exit_code == 1 and "is a directory" in folder.output
    wrong = _archive(app, out / "x.pdf")
    assert wrong.exit_code == 2 and ".zip" in wrong.output
    year = _archive(app, out / "x.zip", year="26")
    assert year.exit_code == 2
    # No file written, and no half-written one left anywhere.
    assert list(out.iterdir()) == [out / "dir.zip"]


def test_the_year_is_the_communitys_local_year(app, story, tmp_path):
    with app.app_context():
        ticket = find_ticket(story)
        # 2027-01-01 07:30 in Shanghai is still 2026 in UTC.
        ticket.closed_at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
        db.session.commit()
    assert _archive(app, tmp_path / "x.zip").exit_code == 3
    assert _archive(app, tmp_path / "x.zip", year="2027").exit_code == 0


def test_the_board_offers_the_same_record_to_its_own_officers_only(
    app, client, story, tmp_path
):
    page = client.get(f"/board/t/{story}").get_data(as_text=True)
    assert f'href="/board/t/{story}/archive.zip"' in page
    response = client.get(f"/board/t/{story}/archive.zip")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert f"{story}.zip" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    single = zipfile.ZipFile(io.BytesIO(response.data))
    assert _archive(app, tmp_path / "year.zip").exit_code == 0
    year = zipfile.ZipFile(tmp_path / "year.zip")
    for name in (f"{story}.json", f"{story}.pdf"):
        assert single.read(name) == year.read(name)
    assert "SHA256SUMS" in single.namelist()
    # Another community's officer: not found, as if it did not exist.
    other = make_other_community(app)
    stranger = app.test_client()
    OfficerActions(stranger).log_in(other.username, other.password)
    assert stranger.get(f"/board/t/{story}/archive.zip").status_code == 404
    # Nobody logged in: to the login page.
    anonymous = app.test_client().get(f"/board/t/{story}/archive.zip")
    assert anonymous.status_code == 302 and "/board/login" in anonymous.location


def test_an_open_ticket_has_no_archive_yet(app, client, resident, officer):
    number = resident.report()
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    assert "archive.zip" not in page
    assert client.get(f"/board/t/{number}/archive.zip").status_code == 404


def test_a_missing_photo_file_leaves_the_record_complete(app, story, tmp_path):
    with app.app_context():
        ticket = find_ticket(story)
        gone = ticket.photos[0].sha256
    folder = tmp_path / "photos"
    for path in folder.rglob(f"{gone}.jpg"):
        path.unlink()
    path = tmp_path / "a.zip"
    assert _archive(app, path).exit_code == 0
    archive = zipfile.ZipFile(path)
    record = json.loads(archive.read(f"{story}.json"))
    assert record["photos"][0]["sha256"] == gone and record["photos"][0]["file"] is None
    assert f"photos/{gone}.jpg" not in archive.namelist()
    text = "".join(
        p.extract_text()
        for p in pypdf.PdfReader(io.BytesIO(archive.read(f"{story}.pdf"))).pages
    )
    assert "照片不可用" in text


def test_the_record_holds_the_follow_up_calls(app, story, tmp_path):
    """A follow-up call (回访) and its outcome are in the JSON and the PDF alike."""
    from dispatch.followup import tasks
    from dispatch.models import FollowUpOutcome, FollowUpReason

    with app.app_context():
        ticket = find_ticket(story)
        task = tasks.open_task(ticket, FollowUpReason.LOW_RATING, ticket.closed_at)
        officer = lifecycle.Actor(ActorType.OFFICER, Channel.BOARD, name="赵专干")
        tasks.record_call(
            task, officer, ticket.closed_at + timedelta(hours=1), reached=False
        )
        tasks.record_call(
            task,
            officer,
            ticket.closed_at + timedelta(hours=3),
            reached=True,
            outcome=FollowUpOutcome.EXPLAINED,
            note="解释了更换镇流器的原因",
        )
        db.session.commit()
    path = tmp_path / "archive.zip"
    assert _archive(app, path).exit_code == 0
    archive = zipfile.ZipFile(path)
    record = json.loads(archive.read(f"{story}.json"))
    [call] = record["follow_ups"]
    assert (call["reason"], call["attempts"], call["outcome"]) == (
        "low_rating",
        2,
        "explained",
    )
    assert call["on_time"] is True and call["note"] == "解释了更换镇流器的原因"
    pdf = pypdf.PdfReader(io.BytesIO(archive.read(f"{story}.pdf")))
    text = _bare("\n".join(page.extract_text() for page in pdf.pages))
    assert _bare("解释了更换镇流器的原因") in text
    assert _bare("已拨打 2 次") in text


def test_the_group_lines_name_the_members_ticket(app, client, officer, entrance_code):
    """The timeline's 并单 lines (a report joined the group, a report split out)
    name the member's ticket in the PDF, as the board does."""
    app.config["STORM_WINDOW"] = timedelta(hours=2)
    parent = ResidentActions(app.test_client(), entrance_code).report(
        description="水管爆裂，水一直流", spot="地下室", phone="13900000001"
    )
    member = ResidentActions(app.test_client(), entrance_code).report(
        description="地下室水管在漏水", spot="地下室", phone="13900000002"
    )
    with app.app_context():
        assert find_ticket(member).group_of_id == find_ticket(parent).id
    # rejected: the held report is split out and goes out on its own
    officer.act(parent, "reject", reason="不属于公共区域，请联系业主自行维修")
    response = client.get(f"/board/t/{parent}/archive.zip")
    assert response.status_code == 200
    single = zipfile.ZipFile(io.BytesIO(response.data))
    pdf = pypdf.PdfReader(io.BytesIO(single.read(f"{parent}.pdf")))
    text = _bare("\n".join(page.extract_text() for page in pdf.pages))
    # a number reads the same in both languages: printed once, after both
    assert _bare("又有一份同一问题的报修加入本组") in text
    assert _bare(f"joined the group: {member}") in text
    assert _bare(f"split out of the group: {member}") in text
