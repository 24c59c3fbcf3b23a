"""Clocks that pause (挂起): the contractor asks, the officer decides, the clock
stands still and goes on, on rq's real schedule and a frozen clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import OutboxMessage
from dispatch.sla.escalation import job_id
from dispatch.sla.pauses import resume_job_id
from dispatch.sla.sweep import sweep
from repair.db import db
from repair.models import PauseState, Ticket, Urgency
from tests.actions import ContractorActions
from tests.factories import find_ticket

START = datetime(2026, 11, 22, 2, 0, 0, tzinfo=UTC)  # 10:00 in Shanghai
PRIMARY = "+8613800000001"
OFFICER = "+8613800000009"
GENERAL_TEXT = "2楼楼道灯不亮了"
DAY = timedelta(hours=24)


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _local(when: datetime) -> str:
    """The datetime-local value a phone in Shanghai sends for ``when``."""
    return (when + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")


class Story:
    """One general ticket, accepted by the primary contractor, paused and resumed."""

    def __init__(self, app, client, resident, officer, jobs, clock, **report):
        self.app, self.client, self.officer, self.jobs = app, client, officer, jobs
        self.clock = clock
        self.number = resident.report(description=GENERAL_TEXT, spot="2楼", **report)
        jobs.run_due()
        with app.app_context():
            self.contractor = ContractorActions(client, PRIMARY)
            self.link = self.contractor.link()
        assert self.contractor.tap(self.link, "accept").status_code == 303
        # The officer confirms it (meets the triage clock): on site is what runs.
        response = officer.act(
            self.number, "triage", urgency="general", category="lighting"
        )
        assert response.status_code == 303

    def at(self, offset: timedelta) -> datetime:
        self.clock.move_to(START + offset)
        return START + offset

    def ticket(self) -> Ticket:
        db.session.expire_all()
        return find_ticket(self.number)

    def ask(self, resume_at: datetime, detail="水泵配件明早到货", reason="parts"):
        return self.contractor.tap(
            self.link,
            "pause",
            reason=reason,
            detail=detail,
            resume_at=_local(resume_at),
        )

    def pause_id(self) -> str:
        page = self.client.get(f"/board/t/{self.number}").get_data(as_text=True)
        return re.search(r'name="pause_id" type="hidden" value="(\d+)"', page).group(1)

    def approve(self):
        return self.officer.act(self.number, "pause/approve", pause_id=self.pause_id())

    def refuse(self, note: str):
        return self.officer.act(
            self.number, "pause/refuse", pause_id=self.pause_id(), note=note
        )

    def resume_by_contractor(self):
        return self.contractor.tap(self.link, "resume")

    def events(self) -> list[str]:
        with self.app.app_context():
            return [e.action for e in self.ticket().events]


@pytest.fixture
def story(clock, app, client, resident, officer, jobs):
    return Story(app, client, resident, officer, jobs, clock)


def _texts(template: str) -> list[OutboxMessage]:
    return db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.template == template)
        .order_by(OutboxMessage.id)
    ).all()


def test_a_pause_moves_the_deadline_by_exactly_the_paused_time_and_replans_the_rungs(
    app, story, jobs
):
    with app.app_context():
        ticket = story.ticket()
        promised = ticket.on_site_due_at
        assert promised == START + DAY
        breach = job_id(ticket.id, "on_site", "breach")
        assert jobs.scheduled_at(breach) == promised

    story.at(timedelta(hours=1, minutes=2, seconds=3))
    assert story.ask(START + timedelta(hours=9)).status_code == 303
    with app.app_context():
        # Asking stops nothing: the clock runs until the officer approves.
        assert story.ticket().next_due_at == promised
        assert jobs.scheduled_at(breach) == promised

    approved = story.at(timedelta(hours=1, minutes=10, seconds=7))
    assert story.approve().status_code == 303
    jobs.run_due()
    with app.app_context():
        ticket = story.ticket()
        assert ticket.paused_at == approved
        assert ticket.next_due_at is None  # the only running clock is paused
        assert breach not in jobs.scheduled_ids()
        assert resume_job_id(ticket.pauses[-1].id) in jobs.scheduled_ids()
        [decided] = _texts("pause_approved")
        assert decided.to_phone == PRIMARY and "已批准" in decided.body
    board = story.client.get("/board").get_data(as_text=True)
    paused_section = board.split('id="section-paused"')[1].split("</section>")[0]
    assert story.number in paused_section
    assert "已挂起" in board

    resumed = story.at(timedelta(hours=3, minutes=25, seconds=40))
    assert story.resume_by_contractor().status_code == 303
    with app.app_context():
        ticket = story.ticket()
        paused = resumed - approved
        assert paused == timedelta(hours=2, minutes=15, seconds=33)
        assert ticket.on_site_due_at == promised + paused
        assert ticket.next_due_at == promised + paused
        assert ticket.paused_at is None
        assert ticket.paused_seconds == paused.total_seconds()
        assert jobs.scheduled_at(breach) == promised + paused
        [pause] = ticket.pauses
        assert pause.state is PauseState.ENDED and pause.ended_how == "contractor"
        assert pause.paused_seconds == paused.total_seconds()
    assert story.events()[-3:] == ["pause_requested", "pause_approved", "resumed"]


def test_the_sweep_does_not_escalate_a_paused_ticket_and_does_after_it_resumes(
    app, story
):
    story.at(timedelta(hours=2))
    story.ask(START + timedelta(days=3))
    story.approve()
    # The original deadline passes while paused: no rung is due.
    story.at(DAY + timedelta(hours=1))
    with app.app_context():
        assert sweep(START + DAY + timedelta(hours=1))["rungs"] == 0
        assert "escalated" not in story.events()
    story.at(DAY + timedelta(hours=2))
    story.resume_by_contractor()  # paused exactly 24 h
    with app.app_context():
        assert story.ticket().on_site_due_at == START + 2 * DAY
        assert sweep(START + 2 * DAY - timedelta(seconds=1))["rungs"] == 0
        assert "escalated" not in story.events()
    story.at(2 * DAY + timedelta(seconds=1))
    with app.app_context():
        sweep(START + 2 * DAY + timedelta(seconds=1))
    story.jobs.run_due()
    with app.app_context():
        assert "escalated" in story.events()


def test_the_clock_resumes_by_itself_at_the_expected_time_with_a_reminder(
    app, story, jobs
):
    story.at(timedelta(hours=1))
    expected = START + timedelta(hours=6)
    story.ask(expected)
    approved = story.at(timedelta(hours=1, minutes=30))
    story.approve()
    jobs.run_due()
    with app.app_context():
        ticket = story.ticket()
        pause_job = resume_job_id(ticket.pauses[-1].id)
        assert jobs.scheduled_at(pause_job) == expected
    story.at(timedelta(hours=5, minutes=59, seconds=59))
    jobs.run_due()
    with app.app_context():
        assert story.ticket().paused_at is not None  # not yet
    story.at(timedelta(hours=6))
    jobs.run_due()
    with app.app_context():
        ticket = story.ticket()
        assert ticket.paused_at is None
        assert ticket.on_site_due_at == START + DAY + (expected - approved)
        [pause] = ticket.pauses
        assert pause.ended_how == "expected" and pause.ended_at == expected
        [to_contractor] = _texts("pause_resumed")
        assert to_contractor.to_phone == PRIMARY
        assert story.number in to_contractor.body and "/j/" in to_contractor.body
        [to_officer] = _texts("officer_pause_resumed")
        assert to_officer.to_phone == OFFICER
        assert f"/board/t/{story.number}" in to_officer.body
    # The job ran once; the sweep finds nothing more to resume.
    with app.app_context():
        assert sweep(expected + timedelta(minutes=1))["pauses_resumed"] == 0
        assert story.events().count("resumed") == 1


def test_the_sweep_resumes_a_pause_whose_job_was_lost(app, story, jobs):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=4))
    story.approve()
    with app.app_context():
        jobs.queues[0].connection.flushdb()  # Redis lost its schedule
    story.at(timedelta(hours=4, minutes=1))
    with app.app_context():
        assert sweep(START + timedelta(hours=4, minutes=1))["pauses_resumed"] == 1
        ticket = story.ticket()
        assert ticket.paused_at is None
        assert ticket.on_site_due_at == START + DAY + timedelta(hours=3, minutes=1)


def test_a_refused_pause_leaves_the_clock_running(app, story, jobs):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=8), detail="业主不在家")
    story.at(timedelta(hours=2))
    assert story.refuse("今天必须处理").status_code == 303
    with app.app_context():
        ticket = story.ticket()
        assert ticket.paused_at is None
        assert ticket.on_site_due_at == START + DAY
        assert ticket.next_due_at == START + DAY
        [pause] = ticket.pauses
        assert pause.state is PauseState.REFUSED
        assert pause.decision_note == "今天必须处理"
        [decided] = _texts("pause_refused")
        assert "未获批准" in decided.body
    page = story.client.get(story.link).get_data(as_text=True)
    assert 'id="pause-refused"' in page and "今天必须处理" in page
    assert 'id="request-pause"' in page  # they may ask again
    # A second decision on the same request finds nothing to decide.
    response = story.officer.act(story.number, "pause/approve", pause_id="1")
    assert response.status_code == 303
    with app.app_context():
        assert story.ticket().paused_at is None
    assert story.events().count("pause_refused") == 1


def test_a_change_of_urgency_during_a_pause_keeps_the_time_already_paused(app, story):
    # A first pause of 30 min, then a second one still running.
    story.at(timedelta(minutes=10))
    story.ask(START + timedelta(hours=5))
    story.at(timedelta(minutes=20))
    story.approve()
    story.at(timedelta(minutes=50))
    story.resume_by_contractor()
    with app.app_context():
        assert story.ticket().on_site_due_at == START + DAY + timedelta(minutes=30)
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=9))
    story.approve()
    # The officer makes it urgent while paused: the urgent clocks count from the
    # change (here from the running pause's start, whose length its end adds).
    story.at(timedelta(hours=1, minutes=15))
    response = story.officer.act(
        story.number, "triage", urgency="urgent", category="lighting"
    )
    assert response.status_code == 303
    with app.app_context():
        ticket = story.ticket()
        assert ticket.urgency is Urgency.URGENT
        assert ticket.paused_at is not None  # still paused
        assert ticket.on_site_due_at == START + timedelta(hours=3)
        assert ticket.next_due_at is None or ticket.next_due_at != (
            ticket.on_site_due_at
        )
    story.at(timedelta(hours=2, minutes=45, seconds=9))
    story.resume_by_contractor()  # the second pause: 1 h 45 min 9 s
    with app.app_context():
        ticket = story.ticket()
        assert ticket.on_site_due_at == START + timedelta(hours=3) + timedelta(
            hours=1, minutes=45, seconds=9
        )
        assert ticket.paused_seconds == 30 * 60 + 105 * 60 + 9


def test_two_pauses_add_up_and_arrival_ends_a_pause(app, story):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=3))
    story.approve()
    story.at(timedelta(hours=2))
    story.resume_by_contractor()
    story.at(timedelta(hours=3))
    story.ask(START + timedelta(hours=10))
    story.approve()
    story.at(timedelta(hours=4, minutes=20))
    # Turning up ends the pause: the deadline moved by the time paused till then.
    assert story.contractor.tap(story.link, "arrive").status_code == 303
    with app.app_context():
        ticket = story.ticket()
        assert ticket.paused_at is None
        assert ticket.on_site_due_at == START + DAY + timedelta(hours=2, minutes=20)
        assert ticket.on_site_at == START + timedelta(hours=4, minutes=20)
        first, second = ticket.pauses
        assert (first.paused_seconds, second.paused_seconds) == (3600, 80 * 60)
        assert second.ended_how == "arrive"
    assert story.events()[-2:] == ["resumed", "arrive"]


def test_the_residents_page_says_why_and_until_when(app, client, story):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=30), detail="水泵配件明早到货")
    with app.app_context():
        key = story.ticket().resident_key
    page = client.get(f"/t/{story.number}?k={key}").get_data(as_text=True)
    assert 'id="paused-until"' not in page  # not until the officer approves
    story.approve()
    page = client.get(f"/t/{story.number}?k={key}").get_data(as_text=True)
    assert 'id="paused-until"' in page and "11-23 16:00" in page
    assert "水泵配件明早到货" in page
    # A neighbour (no key, a browser of their own) sees until when, not why.
    public = app.test_client().get(f"/t/{story.number}").get_data(as_text=True)
    assert "11-23 16:00" in public and "水泵配件明早到货" not in public


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resume_at": "yesterday"}, "请填写日期和时间"),
        ({"resume_at": "2026-11-22T09:00"}, "预计时间须晚于现在"),
        ({"resume_at": "2027-01-22T09:00"}, "最长挂起 14 天"),
        ({"resume_at": "99999-01-01T00:00"}, "请填写日期和时间"),
        ({"resume_at": "0001-01-01T00:00"}, "请填写日期和时间"),
        ({"resume_at": "2026-11-22T18:00\x00"}, None),
        ({"detail": ""}, "请说明在等待什么"),
        ({"detail": "配件" * 200}, "最多 150 个字"),
        ({"detail": "配件\x00到货"}, None),
        ({"reason": "9" * 40}, None),
    ],
)
def test_bad_pause_requests_get_a_clear_message(app, story, fields, message):
    data = {
        "reason": "parts",
        "detail": "配件到货",
        "resume_at": _local(START + timedelta(hours=8)),
        **fields,
    }
    response = story.contractor.tap(story.link, "pause", **data)
    assert response.status_code < 500
    with app.app_context():
        pauses = story.ticket().pauses
    if message is not None:
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
        assert pauses == []


def test_statistics_count_compliance_with_and_without_paused_time_and_pauses(
    app, client, story
):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=5))
    story.approve()
    story.at(timedelta(hours=3))
    story.resume_by_contractor()  # 2 h
    story.at(timedelta(hours=4))
    story.ask(START + timedelta(hours=8))
    story.approve()
    story.at(timedelta(hours=4, minutes=30))
    story.resume_by_contractor()  # 30 min
    # On site 25 h after the report: on time by the moved deadline (26 h 30 min),
    # late had the paused time counted (24 h).
    story.at(DAY + timedelta(hours=1))
    story.contractor.tap(story.link, "arrive")
    html = client.get("/board/stats?from=2026-11-01&to=2026-11-30").get_data(
        as_text=True
    )
    general = html.split('id="clock-general_on_site"')[1]
    assert general.startswith(' data-met="1" data-late="0"')
    raw = general.split('id="clock-general_on_site-paused-time"')[1]
    assert raw.startswith(' data-met="0" data-late="1"')
    with app.app_context():
        contractor_id = story.ticket().contractor_id
    row = html.split(f'id="scorecard-{contractor_id}"')[1].split("</tr>")[0]
    assert 'data-pauses="2"' in row and 'data-paused-seconds="9000"' in row
    assert "2 小时 30 分钟" in row or "2 h 30 min" in row
    # The CSV has the paused time too (and nothing "paused now").
    import csv
    import io

    text = client.get("/board/stats.csv?from=2026-11-01&to=2026-11-30&keys=en")
    [record] = list(
        csv.DictReader(io.StringIO(text.get_data(as_text=True).lstrip("\ufeff")))
    )
    assert (record["paused_hours"], record["paused_since"]) == ("2.50", "")


def test_a_clock_paused_now_is_not_yet_due_unless_paused_time_counts(
    app, client, story
):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(days=3))
    story.approve()
    # A day and a half later, still paused: by the moved deadline nothing is due
    # yet; counting the paused time, the arrival is overdue.
    story.at(DAY + timedelta(hours=12))
    html = client.get("/board/stats?from=2026-11-01&to=2026-11-30").get_data(
        as_text=True
    )
    general = html.split('id="clock-general_on_site"')[1]
    assert general.startswith(
        ' data-met="0" data-late="0" data-overdue="0" data-pending="1"'
    )
    raw = general.split('id="clock-general_on_site-paused-time"')[1]
    assert raw.startswith(' data-met="0" data-late="0" data-overdue="1"')
    with app.app_context():
        contractor_id = story.ticket().contractor_id
    row = html.split(f'id="scorecard-{contractor_id}"')[1].split("</tr>")[0]
    # The running pause counts up to now: 35 h 0 min.
    assert 'data-pauses="1"' in row and 'data-paused-seconds="126000"' in row


def test_a_decision_that_names_no_request_decides_nothing(app, story):
    """The officer's page always names the request it shows; a post without it (or
    with a forged one) approves nothing (found by the outside tester: a blank id
    approved whatever request was pending)."""
    story.at(timedelta(minutes=10))
    story.ask(START + timedelta(hours=5))
    for forged in ("", "abc", "-5", "999"):
        story.officer.act(story.number, "pause/approve", pause_id=forged)
        story.officer.act(story.number, "pause/refuse", pause_id=forged, note="不行")
    with app.app_context():
        assert story.ticket().paused_at is None
    assert "pause_approved" not in story.events()
    assert "pause_refused" not in story.events()
    # A refusal whose note is too long says so and decides nothing.
    response = story.officer.act(
        story.number, "pause/refuse", pause_id=story.pause_id(), note="久" * 201
    )
    page = story.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "备注最多 200 个字" in page
    assert "pause_refused" not in story.events()
    assert story.approve().status_code == 303
    assert story.events().count("pause_approved") == 1


def test_a_request_whose_expected_time_has_passed_is_not_approved(app, story):
    """Approved, it would end the moment it began: the officer is told to refuse it
    so the contractor asks again (found by the outside tester: it was approved
    without a word)."""
    story.at(timedelta(minutes=10))
    story.ask(START + timedelta(hours=1))
    story.at(timedelta(hours=2))
    response = story.approve()
    page = story.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "这个时间已经过了" in page
    assert "pause_approved" not in story.events()
    with app.app_context():
        assert story.ticket().paused_at is None
    assert story.refuse("请重新约时间").status_code == 303
    assert "pause_refused" in story.events()


def test_a_pause_asked_for_a_job_that_moved_on_says_so(app, story):
    """A page left open while the job was completed: the request is not dropped
    without a word (found by the outside tester), and nothing is asked."""
    story.at(timedelta(hours=1))
    page = story.client.get(story.link).get_data(as_text=True)
    assert 'id="pause-form"' in page
    token = story.contractor.csrf(story.link)  # the page as it was left open
    done = story.contractor.complete(story.link, worker_name="李师傅", note="换了灯泡")
    assert done.status_code == 303
    response = story.client.post(
        f"{story.link}/pause",
        data={
            "csrf_token": token,
            "reason": "parts",
            "detail": "水泵配件明早到货",
            "resume_at": _local(START + timedelta(hours=5)),
        },
    )
    assert response.status_code == 409
    assert "此工单已不能挂起" in response.get_data(as_text=True)
    assert "pause_requested" not in story.events()


def test_the_job_page_shows_a_paused_job_as_paused(app, story):
    story.at(timedelta(minutes=10))
    story.ask(START + timedelta(hours=5), detail="等业主回家开门", reason="access")
    story.approve()
    page = story.client.get(story.link).get_data(as_text=True)
    assert 'id="paused-badge"' in page and "已挂起" in page
    assert '<p id="pause-reason">无法入户或进入现场 · 等业主回家开门</p>' in page


RESIDENT = "13912345678"
FOLLOWER = "+8613700000055"


def test_the_officer_hears_of_a_request_and_the_board_marks_it(
    app, clock, client, resident, officer, jobs
):
    story = Story(app, client, resident, officer, jobs, clock)
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=29), reason="weather", detail="暴雨，屋面湿滑")
    jobs.run_due()
    with app.app_context():
        [to_officer] = _texts("officer_pause_requested")
        assert to_officer.to_phone == OFFICER
        body = to_officer.body
        assert "挂起待批" in body and story.number in body
        # a short neutral cause, not the contractor's words; until when
        assert "天气或安全" in body and "暴雨" not in body
        assert "11-23 15:00" in body and f"/board/t/{story.number}" in body
        assert to_officer.variables["cause"] == "天气或安全"
    board = client.get("/board").get_data(as_text=True)
    card = board.split(f'data-number="{story.number}"')[1].split("</article>")[0]
    assert 'class="status status-paused pause-requested"' in card
    assert "挂起待批" in card
    assert 'id="pause-requests"' in board
    chip = board.split('id="pause-requests"')[1].split("</a>")[0]
    assert ">1<" in chip
    only = client.get("/board?pause=requested").get_data(as_text=True)
    assert story.number in only
    # Once decided, the mark is gone.
    story.approve()
    board = client.get("/board").get_data(as_text=True)
    card = board.split(f'data-number="{story.number}"')[1].split("</article>")[0]
    assert "挂起待批" not in card and 'id="pause-requests"' not in board
    only = client.get("/board?pause=requested").get_data(as_text=True)
    assert f'data-number="{story.number}"' not in only


def test_the_resident_and_followers_hear_of_the_pause_and_the_resumption(
    app, clock, client, resident, officer, jobs
):
    from repair.models import TicketFollower

    story = Story(app, client, resident, officer, jobs, clock, phone=RESIDENT)
    with app.app_context():
        ticket = story.ticket()
        db.session.add(TicketFollower(ticket_id=ticket.id, phone=FOLLOWER, locale="en"))
        db.session.commit()
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=29))  # 11-23 15:00 in Shanghai
    jobs.run_due()
    with app.app_context():
        # Asking is not yet news for the resident.
        assert _texts("resident_paused") == []
    story.at(timedelta(hours=1, minutes=10))
    story.approve()
    jobs.run_due()
    with app.app_context():
        told = {m.recipient_type: m for m in _texts("resident_paused")}
        assert set(told) == {"resident", "follower"}
        chinese, english = told["resident"], told["follower"]
        # why (the kind, not the contractor's words), until when, and the on-site
        # time it makes: 11-23 10:00 + (29h - 1h10m) = 11-24 13:50
        assert "等待配件" in chinese.body and "水泵" not in chinese.body
        assert "11-23 15:00" in chinese.body and "11-24 13:50" in chinese.body
        assert "/j/" in chinese.body and chinese.status.value in ("sent", "pending")
        assert english.to_phone == FOLLOWER and english.locale == "en"
        assert "waiting for parts" in english.body and "11-24 13:50" in english.body
        assert f"/t/{story.number}" in english.body
        assert _texts("resident_resumed") == []
    # The expected time comes: the work goes on, the new deadline.
    story.at(timedelta(hours=29))
    jobs.run_due()
    with app.app_context():
        assert story.ticket().on_site_due_at == START + timedelta(hours=51, minutes=50)
        told = {m.recipient_type: m for m in _texts("resident_resumed")}
        assert set(told) == {"resident", "follower"}
        assert "已恢复维修" in told["resident"].body
        assert "11-24 13:50" in told["resident"].body
        assert "resumed" in told["follower"].body


def test_a_contractor_who_goes_on_early_tells_the_resident_the_new_time(
    app, clock, client, resident, officer, jobs
):
    story = Story(app, client, resident, officer, jobs, clock, phone=RESIDENT)
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=29))
    story.approve()
    story.at(timedelta(hours=3))
    assert story.resume_by_contractor().status_code == 303
    jobs.run_due()
    with app.app_context():
        [told] = _texts("resident_resumed")
        # 11-23 10:00 moved by the two hours paused
        assert "11-23 12:00" in told.body
        assert _texts("pause_resumed") == []  # the contractor knows: they did it


def test_a_pause_after_arrival_tells_the_resident_when_the_work_goes_on(
    app, clock, client, resident, officer, jobs
):
    story = Story(app, client, resident, officer, jobs, clock, phone=RESIDENT)
    story.at(timedelta(minutes=30))
    assert story.contractor.tap(story.link, "arrive").status_code in (200, 303)
    with app.app_context():
        assert story.ticket().on_site_at is not None
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=29))
    story.approve()
    jobs.run_due()
    with app.app_context():
        assert _texts("resident_paused") == []
        [told] = _texts("resident_paused_at_work")
        assert "等待配件" in told.body and "11-23 15:00" in told.body


def test_the_residents_status_says_paused_in_both_languages(app, client, story):
    story.at(timedelta(hours=1))
    story.ask(START + timedelta(hours=30))
    with app.app_context():
        key = story.ticket().resident_key

    def status(lang: str) -> str:
        page = app.test_client().get(f"/t/{story.number}?k={key}&lang={lang}")
        html = page.get_data(as_text=True)
        return html.split('id="ticket-status">')[1].split("<")[0]

    assert status("zh_CN") == "维修人员已接单"  # asked, not yet approved
    story.approve()
    assert status("zh_CN") == "已挂起"
    assert status("en") == "Paused"
    story.resume_by_contractor()
    assert status("zh_CN") == "维修人员已接单"
