"""Every message leads where its reader can act, and says what the job is."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dispatch.messaging.notify import KINDS, LINKED_KINDS, Recipient, render_sms
from dispatch.messaging.summary import summarise
from dispatch.models import OutboxMessage
from repair.db import db
from repair.models import Contractor
from tests.actions import job_path
from tests.factories import find_ticket

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
OFFICER = "+8613800000009"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock
GENERAL_TEXT = "2楼楼道灯不亮了，晚上很黑"

#: Where each recipient role must be led: a pattern of the link's path.
ROLE_PAGES = {
    "contractor": r"/j/[0-9a-z]+-[A-Za-z0-9_-]+$",
    "officer": r"/board/t/{number}$",
    "supervisor": r"/board/t/{number}$",
    "admin": r"/board/t/{number}$",
    "resident": r"/t/{number}\?k={key}$",
    "follower": r"/t/{number}$",
}


def _links(body: str) -> list[str]:
    return re.findall(r"https?://\S+", body)


def _sms_to(phone: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.to_phone == phone)
        .order_by(OutboxMessage.id)
    ).all()


def test_every_message_kind_links_each_recipient_role_to_its_own_page(
    app, client, resident
):
    number = resident.report(description=URGENT_TEXT, phone="13800138000")
    links = []
    with app.test_request_context():
        ticket = find_ticket(number)
        key = ticket.resident_key
        for kind, (roles, _names) in KINDS.items():
            if kind not in LINKED_KINDS:
                continue
            for role in (*roles, "admin") if "officer" in roles else roles:
                recipient = Recipient(role, ticket.contractor_id, "+8613800000077")
                body = render_sms(kind, recipient, ticket, {})
                [link] = _links(body)
                links.append((kind, role, link, body))
        db.session.commit()
    for kind, role, link, body in links:
        pattern = ROLE_PAGES[role].format(number=re.escape(number), key=re.escape(key))
        path = re.sub(r"^https?://[^/]+", "", link)
        if "/j/" in path:  # a short code: it opens the reader's own page
            assert re.fullmatch(r"/j/[2-9A-Z]{8}", path), (kind, role, body)
            path = client.get(path).headers["Location"]
        assert re.search(pattern, path), (kind, role, body)
    assert len(links) >= 15


def test_the_urgency_change_sms_opens_the_contractors_own_job_page(
    app, client, resident, officer
):
    number = resident.report(description=GENERAL_TEXT)
    officer.act(number, "triage", urgency="urgent", category="lighting")
    with app.app_context():
        [offer, change] = _sms_to(PRIMARY)
        assert change.template == "urgency_changed"
        [link] = _links(change.body)
        assert "/j/" in link and f"/t/{number}" not in link
        path = _job_path(change.body)
    page = client.get(path).get_data(as_text=True)
    assert 'id="accept"' in page


def test_the_contractor_sms_says_what_the_job_is(app, resident):
    number = resident.report(
        description="厨房水管爆了，水一直往外喷 call me 13912345678 see http://evil.example/x",
        spot="3楼厨房",
    )
    with app.app_context():
        [offer] = _sms_to(PRIMARY)
        assert "给水管道" in offer.body  # the category
        assert "厨房水管爆了" in offer.body  # the start of the description
        assert "13912345678" not in offer.body and "evil" not in offer.body
        assert number in offer.body


def test_a_description_ending_in_a_full_stop_gets_one(app, resident):
    # Outside tester: "上门居民反映秋千链条断了一根。。11-29 04:43前到场".
    resident.report(description="秋千链条断了一根。", photos=[])
    with app.app_context():
        [offer] = _sms_to(PRIMARY)
    assert "断了一根。" in offer.body and "。。" not in offer.body


def test_a_long_description_still_fits_two_segments(app, resident):
    from dispatch.messaging.backends import sms_segments

    resident.report(description="楼道灯坏了" + "非常" * 200, spot="三楼楼梯间扶手旁边")
    with app.app_context():
        [offer] = _sms_to(PRIMARY)
        assert sms_segments(offer.body) <= 2
        assert "楼道灯坏了" in offer.body and "…" in offer.body


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("电梯困人了", 20, "电梯困人了"),
        ("电梯困人了，卡在5楼，里面有老人", 8, "电梯困人了，卡…"),
        ("水管爆了 看 http://ev.cn/a?b=1 快来", 20, "水管爆了 看 快来"),
        ("see www.example.com now", 20, "see now"),
        ("spot ev.cn", 20, "spot"),
        ("打我电话 13912345678 或 +86 139-1234-5678", 30, "打我电话 或"),
        ("the hallway light on floor three is broken", 20, "the hallway light…"),
        ("5楼2单元", 10, "5楼2单元"),
        (None, 10, ""),
        ("http://only.a.link", 10, ""),
    ],
)
def test_summarise_keeps_the_first_words_without_links_or_numbers(
    text, limit, expected
):
    assert summarise(text, limit) == expected
    assert len(summarise(text, limit)) <= limit


def _job_path(body: str) -> str:
    """Returns the job page the SMS's link opens (its short code resolved)."""
    [link] = _links(body)
    return job_path(link.split("repair.test", 1)[1])


@pytest.mark.parametrize(
    ("action", "fields", "sms_says", "page_says"),
    [
        ("reject", {"reason": "不属于物业维修范围"}, "已被物业驳回", "rejected"),
        ("duplicate", {"original": "{other}"}, "重复，已合并", "duplicate"),
        ("assign", {"contractor": "{backup}"}, "已由物业改派", "reassigned"),
    ],
)
def test_a_withdrawn_contractor_hears_why_and_the_old_link_says_it(
    app, client, resident, officer, action, fields, sms_says, page_says
):
    other = resident.report(description="1楼大门关不上")
    number = resident.report(description="1楼大门关不上了")
    with app.app_context():
        backup = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == BACKUP)
        )
        offer = _sms_to(PRIMARY)[-1]
        assert number in offer.body
        old_page = _job_path(offer.body)
    values = {k: v.format(other=other, backup=backup) for k, v in fields.items()}
    assert officer.act(number, action, **values).status_code == 303
    with app.app_context():
        withdrawn = _sms_to(PRIMARY)[-1]
        assert withdrawn.template == "job_moved", withdrawn.body
        assert number in withdrawn.body and sms_says in withdrawn.body
        assert _job_path(withdrawn.body) == old_page
    page = client.get(old_page)
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert f'data-why="{page_says}"' in html
    if page_says != "reassigned":
        assert "已转交其他单位" not in html


def test_a_contractor_who_misses_the_deadline_hears_the_backup_took_it(
    app, client, resident, jobs
):
    from datetime import timedelta

    from freezegun import freeze_time

    with freeze_time("2026-11-22 02:00:00") as clock:
        number = resident.report(description=URGENT_TEXT)
        with app.app_context():
            old_page = _job_path(_sms_to(PRIMARY)[-1].body)
        clock.tick(timedelta(minutes=30))
        jobs.run_due()
        with app.app_context():
            withdrawn = _sms_to(PRIMARY)[-1]
            assert withdrawn.template == "job_moved"
            assert "备岗" in withdrawn.body and number in withdrawn.body
        html = client.get(old_page).get_data(as_text=True)
        assert 'data-why="backup"' in html


def test_rework_is_marked_and_shows_the_residents_note_and_photo_first(
    app, client, resident
):
    import io

    from tests.actions import ContractorActions, hidden_fields
    from tests.factories import jpeg_bytes

    number = resident.report(description="扶手松动", phone="13912345678")
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
        key = find_ticket(number).resident_key
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    html = client.get(f"/t/{number}?k={key}").get_data(as_text=True)
    section = html.split('id="not-fixed-form"')[1]
    form = {
        **hidden_fields(section),
        **dict(
            re.findall(
                r'name="(csrf_token|k|kept_photos)"[^>]*?value="([^"]*)"', section
            )
        ),
    }
    response = client.post(
        f"/t/{number}/not-fixed",
        data={
            **form,
            "note": "扶手还是晃，一推就动",
            "photos": [(io.BytesIO(jpeg_bytes(color=(200, 60, 60))), "still.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        again = _sms_to(PRIMARY)[-1]
        assert again.template == "dispatch"
        assert "返修" in again.body and "扶手还是晃" in again.body
        reopen_photo = next(
            p for p in find_ticket(number).photos if p.purpose == "reopen"
        )
        path = _job_path(again.body)
    page = client.get(path).get_data(as_text=True)
    assert 'id="rework-badge"' in page
    note_at = page.index("扶手还是晃，一推就动")
    assert note_at < page.index('id="job-description"')
    assert page.index(reopen_photo.sha256) < page.index('id="job-description"')
