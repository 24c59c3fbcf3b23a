"""Every breach is visible on the board, and no deadline shown is in the past."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import OutboxMessage
from dispatch.sla.countdown import countdown_text
from repair.db import db
from repair.models import Contractor
from tests.actions import ContractorActions
from tests.factories import find_ticket

START = "2026-11-22 02:00:00"  # 10:00 in Shanghai
PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
OFFICER = "+8613800000009"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _sections(client) -> dict[str, str]:
    page = client.get("/board/cards").get_data(as_text=True)
    return {
        part.split('"', 1)[0]: part.split("</section>")[0]
        for part in page.split('id="section-')[1:]
    }


def _count(section: str) -> int:
    return int(re.search(r'class="count[^"]*">(\d+)<', section).group(1))


def _breach_alerts(app) -> set[int]:
    with app.app_context():
        return set(
            db.session.scalars(
                sa.select(OutboxMessage.ticket_id).where(
                    OutboxMessage.template == "officer_breach"
                )
            )
        )


def test_an_unconfirmed_ticket_is_in_breached_once_the_officer_was_alerted(
    app, client, clock, officer, resident, jobs
):
    from repair.models import Contractor

    with app.app_context():  # no backup to hand to: the ticket stays unanswered
        db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        ).is_active = False
        db.session.commit()
    number = resident.report(description=URGENT_TEXT)
    assert _count(_sections(client)["breached"]) == 0
    clock.tick(timedelta(minutes=31))  # the contact deadline: officer alerted
    jobs.run_due()
    assert _breach_alerts(app)
    sections = _sections(client)
    assert number in sections["breached"] and number not in sections["triage"]
    assert _count(sections["breached"]) == len(_breach_alerts(app)) == 1
    clock.tick(timedelta(minutes=30))  # triage too
    jobs.run_due()
    sections = _sections(client)
    assert _count(sections["breached"]) == 1 and number in sections["breached"]


def test_a_late_clock_alone_puts_a_ticket_in_breached(app, client, officer, resident):
    number = resident.report(description="2楼楼道灯不亮了")
    with app.app_context():  # the officer has not triaged it in time
        ticket = find_ticket(number)
        ticket.triage_due_at = ticket.created_at - timedelta(minutes=1)
        db.session.commit()
        assert ticket.escalated_at is None
    sections = _sections(client)
    assert number in sections["breached"] and number not in sections["triage"]


def test_the_backup_gets_its_own_deadline_and_one_timeline_line(
    app, client, clock, officer, resident, jobs
):
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=30))
    jobs.run_due()
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        assert ticket.contact_due_at.isoformat().startswith("2026-11-22T03:00")
        assert ticket.on_site_due_at.isoformat().startswith("2026-11-22T04:00")
        [offer] = db.session.scalars(
            sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == BACKUP)
        ).all()
    assert "请11:00前接单" in offer and "10:30" not in offer
    card = _sections(client)["breached"].split(f'data-number="{number}"')[1]
    card = card.split("</article>")[0]
    assert "11:00" in card and "还剩 30 分 0 秒" in card
    # a green countdown in the breached column says why the card is there
    assert '<span class="missed">10:30 已升级处理</span>' in card
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert timeline.count("<li") == len(
        [e for e in find_ticket_events(app, number) if e != "escalated"]
    )
    assert (
        "超时未接单，转交备岗单位" in timeline
        and "接单时限 2026-11-22 11:00" in timeline
    )
    # a label and what follows it, with no space before the colon (tester)
    assert not re.search(r"\s:", timeline)


def test_confirming_urgency_after_a_handover_keeps_the_backups_window(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: the officer confirmed 紧急 after the handover; the card,
    # the ticket page and the backup's job page went back to 接单截止 10:30, the
    # deadline the primary had missed, already past when the backup got the job.
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=30))
    jobs.run_due()  # 10:30: handed to the backup, to accept by 11:00
    clock.tick(timedelta(minutes=5))
    officer.act(number, "triage", urgency="urgent", category="lift")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.urgency_confirmed_at is not None
        assert ticket.contact_due_at.isoformat().startswith("2026-11-22T03:00")
    assert "接单截止 11:00 · 还剩 25 分 0 秒" in _text(_card(client, number))


def test_a_job_the_officer_moved_never_goes_back_to_whom_they_moved_it_from(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: the officer moved a gas report from the primary to the
    # backup; the backup did not answer, and the ladder handed it back to the
    # primary, telling the backup "已转交备岗单位".
    number = resident.report(description=URGENT_TEXT)
    with app.app_context():
        backup = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == BACKUP)
        )
    officer.act(number, "assign", contractor=str(backup))
    clock.tick(timedelta(minutes=31))
    jobs.run_due()
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP  # nobody else took it over
        assert ticket.escalated_at is not None  # the officer was alerted
        told_backup = db.session.scalars(
            sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == BACKUP)
        ).all()
    assert not any("转交备岗单位" in body for body in told_backup)
    assert "escalated" in find_ticket_events(app, number)


def test_a_breached_card_says_which_deadline_was_missed(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: a card in the breached column showed a green countdown and
    # nothing of the deadline that had been missed.
    with app.app_context():  # no backup: the primary keeps the job
        db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        ).is_active = False
        db.session.commit()
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=31))  # 10:31: the 10:30 contact deadline passed
    jobs.run_due()
    card = _card(client, number)
    assert "接单截止 10:30 · 已超时 1 分" in _text(card)
    assert '<span class="missed">确认紧急程度截止' not in card  # not missed yet
    contractor = ContractorActions(app.test_client(), PRIMARY)
    clock.tick(timedelta(minutes=9))
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")  # 10:40, ten minutes late
    card = _card(client, number)
    assert '<span class="missed">接单截止 10:30，实际 10:40</span>' in card
    assert "确认紧急程度截止 11:00 · 还剩 20 分 0 秒" in _text(card)  # the next one
    clock.tick(timedelta(minutes=25))  # 11:05: the officer never confirmed urgency
    card = _card(client, number)
    assert "确认紧急程度截止 11:00 · 已超时 5 分" in _text(card)
    # the foot counts the overdue triage; the line names only what it does not
    assert '<span class="missed">接单截止 10:30，实际 10:40</span>' in card


def test_a_nudge_before_the_deadline_leaves_the_card_where_it_was(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: ten minutes before the accept deadline every urgent card
    # moved to 已超时/已升级, saying 已升级处理, on the contractor's reminder.
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=20))  # 10:20: the reminder to the contractor
    jobs.run_due()
    with app.app_context():
        sent = db.session.scalars(
            sa.select(OutboxMessage.template).where(OutboxMessage.to_phone == PRIMARY)
        ).all()
    assert sent[-1] == "reminder"
    sections = _sections(client)
    assert number in sections["urgent"] and number not in sections["breached"]
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    assert "已催办维保单位" in page.split('id="timeline"')[1]
    resident_page = resident.client.get(f"/t/{number}").get_data(as_text=True)
    assert "已催办维保单位" in resident_page.split('id="timeline"')[1]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _card(client, number: str) -> str:
    section = _sections(client)["breached"]
    return section.split(f'data-number="{number}"')[1].split("</article>")[0]


def find_ticket_events(app, number: str) -> list[str]:
    with app.app_context():
        return [e.action for e in find_ticket(number).events]


def test_a_backup_setting_sets_the_backups_window(app, settings, resident, jobs, clock):
    app.config["SLA_BACKUP_CONTACT"] = timedelta(minutes=15)
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=30))
    jobs.run_due()
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contact_due_at.isoformat().startswith("2026-11-22T02:45")


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        (23 * 60 + 53, "还剩 23 分 53 秒", "23 min 53 s left"),
        (3600 + 5 * 60 + 9, "还剩 1 小时 5 分", "1 h 5 min left"),
        (59, "还剩 0 分 59 秒", "0 min 59 s left"),
        (-5 * 60 - 3, "已超时 5 分", "5 min overdue"),
        (-2 * 3600, "已超时 2 小时 0 分", "2 h 0 min overdue"),
        # not "已超时 0 分", which an outside tester read as not late
        (-30, "刚刚超时", "just overdue"),
    ],
)
def test_the_countdown_reads_the_same_way_in_both_languages(app, seconds, zh, en):
    with app.test_request_context("/?lang=zh_CN"):
        assert countdown_text(seconds) == zh
    with app.test_request_context("/?lang=en"):
        assert countdown_text(seconds) == en


GENERAL_TEXT = "2楼楼道灯不亮了"


def _bodies_to(app, phone: str) -> list[str]:
    with app.app_context():
        return db.session.scalars(
            sa.select(OutboxMessage.body)
            .where(OutboxMessage.to_phone == phone)
            .order_by(OutboxMessage.id)
        ).all()


def test_a_ticket_made_urgent_late_gives_its_contractor_a_window_from_then(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: a general job made urgent at 04:53 told the contractor
    # "请04:46前接单" (counted from the report), and the ladder handed the job to
    # the backup in the same minute.
    number = resident.report(description=GENERAL_TEXT)
    clock.tick(timedelta(minutes=45))  # 10:45
    officer.act(number, "triage", urgency="urgent", category="lighting")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contact_due_at.isoformat().startswith("2026-11-22T03:15")
        assert ticket.on_site_due_at.isoformat().startswith("2026-11-22T04:45")
    raised = _bodies_to(app, PRIMARY)[-1]
    assert "11:15" in raised and "10:30" not in raised
    clock.tick(timedelta(minutes=1))
    jobs.run_due()
    with app.app_context():
        assert find_ticket(number).contractor.phone == PRIMARY  # not handed over
    assert not any("转交备岗单位" in body for body in _bodies_to(app, PRIMARY))
    # made urgent at 23:30 of the general day: the 24 h promise is kept, not moved
    later = resident.report(description="3楼楼道灯不亮了")
    clock.tick(timedelta(hours=23, minutes=30))
    officer.act(later, "triage", urgency="urgent", category="lighting")
    with app.app_context():
        ticket = find_ticket(later)
        assert ticket.on_site_due_at - ticket.created_at == timedelta(hours=24)


def test_a_job_the_officer_reassigns_after_its_deadline_has_a_window_of_its_own(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: neither contractor accepted a gas report; the officer gave it
    # back to the primary at 04:48, whose SMS said "请04:48前接单" and whose job
    # page showed 刚刚超时 on first opening.
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=30))
    jobs.run_due()  # 10:30: handed to the backup, to accept by 11:00
    clock.tick(timedelta(minutes=30))
    jobs.run_due()  # 11:00: the backup missed it too; the officer is alerted
    with app.app_context():
        primary = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == PRIMARY)
        )
    officer.act(number, "assign", contractor=str(primary))
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == PRIMARY
        assert ticket.contact_due_at.isoformat().startswith("2026-11-22T03:30")
    assert "请11:30前接单" in _bodies_to(app, PRIMARY)[-1]
    with app.app_context():
        link = ContractorActions(client, PRIMARY).link()
    job = _text(client.get(link).get_data(as_text=True))
    assert "11:30" in job and "刚刚超时" not in job and "已超时" not in job
    clock.tick(timedelta(minutes=29))
    jobs.run_due()
    with app.app_context():
        assert find_ticket(number).contractor.phone == PRIMARY


def test_a_deadline_missed_by_seconds_does_not_read_as_met(
    app, client, clock, officer, resident, jobs
):
    # Outside tester: "确认紧急程度截止 04:45，实际 04:45" under 已超时 (met at
    # 04:45:52 for 04:45:06): to the minute, it read as on time.
    with app.app_context():  # no backup: the primary keeps the job
        db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        ).is_active = False
        db.session.commit()
    number = resident.report(description=URGENT_TEXT)
    clock.tick(timedelta(minutes=30, seconds=40))  # 10:30:40
    jobs.run_due()
    contractor = ContractorActions(app.test_client(), PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    card = _card(client, number)
    assert '<span class="missed">接单截止 10:30:00，实际 10:30:40</span>' in card
    page = _text(client.get(f"/board/t/{number}").get_data(as_text=True))
    assert "接单截止 2026-11-22 10:30:00，实际 2026-11-22 10:30:40" in page
