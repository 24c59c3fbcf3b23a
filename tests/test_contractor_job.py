"""A contractor works a job from the link in their SMS: accept, arrive, complete."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import Assignment, OutboxMessage
from repair import lifecycle
from repair.db import db
from repair.models import Contractor, TicketStatus
from tests.actions import ContractorActions
from tests.factories import find_ticket, jpeg_bytes

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"


@pytest.fixture
def reported(app, resident) -> str:
    """A resident reported a loose handrail with their phone number."""
    return resident.report(description="扶手松动", phone="13912345678")


@pytest.fixture
def contractor(client, app) -> ContractorActions:
    return ContractorActions(client, PRIMARY)


def test_contractor_opens_the_link_and_sees_the_job(app, client, reported, contractor):
    with app.app_context():
        link = contractor.link()
    page = client.get(link).get_data(as_text=True)
    assert "阳光花园 3栋 2单元" in page
    assert "扶手松动" in page
    assert 'id="countdown"' in page and "data-due=" in page
    assert "/photos/" in page  # the resident's photo
    assert "13912345678" not in page  # not before accepting
    assert 'id="accept"' in page


def test_accepting_shows_the_residents_phone_and_tells_the_resident(
    app, client, reported, contractor
):
    with app.app_context():
        link = contractor.link()
    assert contractor.tap(link, "accept").status_code == 303
    page = client.get(link).get_data(as_text=True)
    assert 'href="tel:+8613912345678"' in page
    with app.app_context():
        ticket = find_ticket(reported)
        assert ticket.status is TicketStatus.ACCEPTED and ticket.accepted_at
        accept = [e for e in ticket.events if e.action == "accept"]
        assert len(accept) == 1
        assert (accept[0].actor_type.value, accept[0].channel.value) == (
            "contractor",
            "job_link",
        )
        texts = db.session.scalars(
            sa.select(OutboxMessage.body).where(
                OutboxMessage.to_phone == "+8613912345678"
            )
        ).all()
        assert any("已由安居维保服务有限公司接单" in t for t in texts)


def test_double_accept_changes_nothing_the_second_time(app, reported, contractor):
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "accept")
    with app.app_context():
        actions = [e.action for e in find_ticket(reported).events]
        assert actions.count("accept") == 1


def test_contractor_arrives_and_completes_with_a_photo(
    app, client, reported, contractor
):
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")
    response = contractor.complete(
        link, worker_name="王师傅", note="更换了两颗膨胀螺丝"
    )
    assert response.status_code == 303
    with app.app_context():
        ticket = find_ticket(reported)
        assert ticket.status is TicketStatus.COMPLETED
        assert ticket.completed_by_name == "王师傅"
        assert len(ticket.completion_photos) == 1
        key = ticket.resident_key
    tracking = client.get(f"/t/{reported}?k={key}").get_data(as_text=True)
    assert 'id="completion"' in tracking
    assert "王师傅" in tracking and "安居维保服务有限公司" in tracking
    assert "更换了两颗膨胀螺丝" in tracking
    # completing again (a retry on a weak network) changes nothing
    assert contractor.complete(link, worker_name="王师傅").status_code == 303
    with app.app_context():
        assert [e.action for e in find_ticket(reported).events].count("complete") == 1


def test_completing_without_a_photo_keeps_what_was_typed(app, reported, contractor):
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    response = contractor.complete(link, photos=[], worker_name="王师傅", note="已修好")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请至少上传一张维修完成的照片" in html
    assert 'value="王师傅"' in html and "已修好" in html
    rejected = contractor.complete(
        link, photos=[(b"not a photo", "x.txt")], worker_name="王师傅"
    )
    assert rejected.status_code == 422
    assert "不是可识别的照片" in rejected.get_data(as_text=True)
    with app.app_context():
        assert find_ticket(reported).status is TicketStatus.ACCEPTED


def test_completion_photos_are_limited_by_the_setting(app, reported, contractor):
    app.config["PHOTOS_PER_TICKET"] = 1
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    two = [(jpeg_bytes(color=(40, 160, n)), f"{n}.jpg") for n in (60, 90)]
    response = contractor.complete(link, photos=two, worker_name="王师傅")
    assert response.status_code == 422
    assert "最多 1 张照片，已保留前 1 张。" in response.get_data(as_text=True)


def test_declining_hands_the_job_to_the_backup_and_kills_the_old_link(
    app, client, reported, contractor
):
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "decline", reason="busy", detail="两个班组都在外面")
    with app.app_context():
        ticket = find_ticket(reported)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.contractor.phone == BACKUP
        decline = next(e for e in ticket.events if e.action == "decline")
        assert "两个班组都在外面" in decline.note
        ends = db.session.scalars(
            sa.select(Assignment.end_reason).where(Assignment.ticket_id == ticket.id)
        ).all()
        assert ends == ["declined", None]
        backup_link = ContractorActions(client, BACKUP).link()
    old = client.get(link)
    assert old.status_code == 410
    assert "您已拒绝此工单" in old.get_data(as_text=True)
    assert client.get(backup_link).status_code == 200


def test_tampered_link_gets_a_clear_page(app, client, reported, contractor):
    with app.app_context():
        link = contractor.link()
    tampered = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    for path in (tampered, "/j/garbage", "/j/zz-zz"):
        response = client.get(path)
        assert response.status_code == 404
        assert 'id="link-problem"' in response.get_data(as_text=True)
    assert client.post(tampered + "/accept").status_code == 404


def test_link_expires_some_time_after_the_ticket_closes(
    app, client, reported, contractor
):
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    with app.app_context():
        ticket = find_ticket(reported)
        lifecycle.transition(ticket, "close", lifecycle.Actor.system())
        db.session.commit()
    assert client.get(link).status_code == 200  # still readable for a while
    with freeze_time(lifecycle.utcnow() + timedelta(days=8)):
        response = client.get(link)
    assert response.status_code == 410
    assert "过期" in response.get_data(as_text=True)


def test_english_speaking_contractor_gets_the_page_in_english(app, client, reported):
    with app.app_context():
        contractor = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == PRIMARY)
        )
        contractor.language = "en"
        db.session.commit()
        link = ContractorActions(client, PRIMARY).link()
    assert "Accept the job" in client.get(link).get_data(as_text=True)


def test_a_new_assignment_gets_one_job_code_however_often_it_is_asked(app, demo):
    # Its first code is made without looking for an earlier one (none can exist);
    # asked again in the same transaction it is the same code, not a second row.
    from dispatch.assignment.routes import open_assignment
    from dispatch.contractor.tokens import job_code
    from dispatch.models import JobCode
    from repair import lifecycle
    from repair.models import ActorType, Channel, Contractor, Entrance

    with app.app_context():
        entrance = db.session.scalar(sa.select(Entrance).limit(1))
        report = lifecycle.Report(entrance=entrance, spot="", description="扶手松动")
        actor = lifecycle.Actor(ActorType.RESIDENT, Channel.QR)
        ticket = lifecycle.open_ticket(report, actor)
        contractor = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == PRIMARY)
        )
        assignment = open_assignment(ticket, contractor, "primary")
        first = job_code(assignment.id)
        assert job_code(assignment.id) == first
        db.session.commit()
        rows = db.session.scalars(
            sa.select(JobCode.code).where(JobCode.assignment_id == assignment.id)
        ).all()
        assert rows == [first]
        assert job_code(assignment.id) == first  # a later transaction finds it
