"""The 12345 hotline bridge against a local stand-in of a hotline system."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch.integrations.hotline import send_reply
from dispatch.integrations.models import HotlineReply, HotlineSystem, HotlineWorkOrder
from repair.db import db, utcnow
from repair.models import Channel, Entrance, Ticket, TicketStatus
from tests.actions import ContractorActions
from tests.factories import find_ticket
from tests.hotline_standin import StandInHotline

SECRET = "a shared secret of the hotline"
PRIMARY = "+8613800000001"
PHOTO_URL = "http://repair.test/photos/"


@pytest.fixture
def hotline(app, demo):
    """The stand-in hotline, registered the way an operator does it (the CLI)."""
    with StandInHotline() as standin:
        result = app.test_cli_runner().invoke(
            args=["hotline", "add", "city-12345", "--reply-url", standin.reply_url]
            + ["--secret-stdin"],
            input=SECRET + "\n",
        )
        assert result.exit_code == 0, result.output
        yield standin


def order(number="GD20260101001", place="阳光花园3栋2单元", **fields) -> dict:
    body = {
        "workordercode": number,
        "workordercontent": "市民反映楼道灯不亮，请尽快处理",
        "place": place,
        "dispatchtime": "2026-01-01 09:30:00",
        "processlimited": "2026-01-03",
        "attachments": "",
        "state": 0,
    }
    body.update(fields)
    return body


def push(client, body: dict, secret: str = SECRET, timestamp: int | None = None):
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(
        secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256
    ).hexdigest()
    return client.post(
        "/integrations/hotline/work-orders",
        data=raw,
        content_type="application/json",
        headers={"X-Hotline-Timestamp": stamp, "X-Hotline-Signature": signature},
    )


def test_a_pushed_order_becomes_one_ticket_however_often_it_is_pushed(
    app, client, hotline
):
    answers = [push(client, order()) for _ in range(3)]

    assert {a.status_code for a in answers} == {200}
    first = answers[0].get_json()
    assert first["success"] is True and first["code"] == 10000
    assert all(a.get_json() == first for a in answers)
    with app.app_context():
        tickets = db.session.scalars(sa.select(Ticket)).all()
        assert [t.number for t in tickets] == [first["ticket"]]
        ticket = tickets[0]
        assert ticket.channel is Channel.HOTLINE
        assert (ticket.entrance.building.name, ticket.entrance.name) == ("3栋", "2单元")
        work_order = db.session.scalar(sa.select(HotlineWorkOrder))
        # "2026-01-03" is the end of that day in Shanghai.
        assert work_order.due_at.isoformat() == "2026-01-03T16:00:00+00:00"


def test_a_bad_signature_or_a_stale_timestamp_is_refused(app, client, hotline):
    forged = push(client, order(), secret="not the secret at all")
    stale = push(client, order(), timestamp=int(time.time()) - 301)

    assert forged.status_code == 401 and forged.get_json()["code"] == 40100
    assert stale.status_code == 401 and stale.get_json()["code"] == 40101
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


def test_completion_produces_exactly_one_completion_reply_with_the_photos(
    app, client, hotline, jobs
):
    number = push(client, order()).get_json()["ticket"]
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")
    assert (
        contractor.complete(link, worker_name="王师傅", note="换了灯泡").status_code
        == 303
    )
    push(client, order())  # a repeated push changes nothing
    jobs.run_due()
    jobs.run_due()

    kinds = [body["state"] for _headers, body in hotline.replies]
    assert kinds == [1, 1, 2]  # accepted, on site, completed
    headers, completed = hotline.replies[-1]
    assert completed["workordercode"] == "GD20260101001"
    assert "换了灯泡" in completed["content"]
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        assert ticket.status is TicketStatus.COMPLETED
        photos = [
            f"{PHOTO_URL}{p.sha256}/display.jpg" for p in ticket.completion_photos
        ]
    assert photos and completed["attachments"].split(",") == photos
    # Signed the same way as pushes.
    raw = json.dumps(completed, ensure_ascii=False).encode()
    stamp = headers["X-Hotline-Timestamp"]
    expected = hmac.new(
        SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256
    ).hexdigest()
    assert headers["X-Hotline-Signature"] == expected


def test_a_refused_reply_is_retried_later_and_sent_once(app, client, hotline):
    push(client, order())
    hotline.failures_left = 1
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        from repair import lifecycle

        lifecycle.transition(
            ticket,
            "reject",
            lifecycle.Actor.system(),
            note="不属于本单位职责",
        )
        db.session.commit()
        reply = db.session.scalar(sa.select(HotlineReply))
        now = utcnow()
        assert send_reply(reply.id, now) == "pending"
        assert send_reply(reply.id, now) == "pending"  # not due yet: nothing sent
        assert send_reply(reply.id, now + timedelta(minutes=1)) == "sent"
        assert send_reply(reply.id, now + timedelta(hours=1)) == "sent"
    bodies = [body for _headers, body in hotline.replies]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert bodies[0]["state"] == 3 and "不属于本单位职责" in bodies[0]["content"]


def _staff(app, username: str, community: str | None = None):
    """Logs in a demo staff member, or a new officer of another community."""
    from werkzeug.security import generate_password_hash

    from repair.models import Community, Role, User
    from tests.actions import OfficerActions

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            elsewhere = Community(slug=community, name="东湖小区", ticket_prefix="DH")
            user = User(username=username, role=Role.OFFICER, communities=[elsewhere])
            db.session.add(user)
        user.password_hash = generate_password_hash("a long enough password")
        db.session.commit()
    actions = OfficerActions(app.test_client())
    assert actions.log_in(username, "a long enough password").status_code == 302
    return actions


def _unplaced(staff) -> str:
    return staff.client.get("/board/hotline/unplaced").get_data(as_text=True)


def test_an_unknown_place_from_an_unscoped_hotline_waits_for_the_supervisor(
    app, client, hotline, jobs
):
    answer = push(client, order(number="GD2", place="人民路88号附近")).get_json()
    assert answer["success"] is True and "ticket" not in answer

    # The hotline serves no community in particular: no officer owns the order,
    # an officer of another community does not see it, the supervisor does.
    assert "GD2" not in _unplaced(_staff(app, "elsewhere", community="donghu"))
    officer = _staff(app, "officer")
    assert "GD2" not in _unplaced(officer)
    badge = 'data-badge="integrations.unplaced">1<'
    assert badge not in officer.client.get("/board").get_data(as_text=True)
    supervisor = _staff(app, "supervisor")
    page = _unplaced(supervisor)
    assert "人民路88号附近" in page and 'data-order="GD2"' in page
    # The board's navigation says so on every page.
    assert badge in supervisor.client.get("/board").get_data(as_text=True)

    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.name == "1单元")
        )
        work_order = db.session.scalar(sa.select(HotlineWorkOrder))
        ids = (entrance.id, work_order.id)
    token = supervisor.csrf("/board/hotline/unplaced")
    placed = supervisor.client.post(
        f"/board/hotline/unplaced/{ids[1]}",
        data={"csrf_token": token, "entrance": ids[0]},
    )
    assert placed.status_code == 303
    jobs.run_due()
    again = push(client, order(number="GD2", place="人民路88号附近")).get_json()
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert again["ticket"] == ticket.number and ticket.entrance_id == ids[0]
        # Placed by hand, it is dispatched like any report, the hotline's
        # deadline running on it.
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.contractor is not None and ticket.hotline_due_at is not None
        placed_by = [e for e in ticket.events if e.action == "hotline_order"]
        assert placed_by[0].actor_type.value == "officer"
    assert "GD2" not in _unplaced(supervisor)


def test_an_unknown_place_from_a_scoped_hotline_waits_for_its_officers(
    app, client, hotline
):
    from repair.models import Community

    with app.app_context():
        system = db.session.scalar(sa.select(HotlineSystem))
        system.communities = list(db.session.scalars(sa.select(Community)))
        db.session.commit()
    push(client, order(number="GD3", place="人民路88号附近"))
    assert "GD3" not in _unplaced(_staff(app, "elsewhere", community="donghu"))
    assert 'data-order="GD3"' in _unplaced(_staff(app, "officer"))


def test_hotline_add_reads_the_secret_from_stdin(app, hotline):
    with app.app_context():
        system = db.session.scalar(sa.select(HotlineSystem))
        assert system.secret == SECRET and system.reply_url == hotline.reply_url


def test_the_whole_story_answers_the_hotline_once_per_event(
    app, client, hotline, officer, jobs
):
    from tests.test_resident_follow_through import _form, _private_link

    # Pushed three times: one ticket, the same answer.
    answers = [push(client, order(number="GD-A")).get_json() for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    repaired = answers[0]["ticket"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 1

    # The contractor accepts, arrives and completes with a photo.
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")
    assert (
        contractor.complete(link, worker_name="王师傅", note="换了灯泡").status_code
        == 303
    )
    # The officer returns another order (退单) with a reason.
    returned = push(client, order(number="GD-B", place="阳光花园3栋1单元"))
    returned = returned.get_json()["ticket"]
    assert (
        officer.act(returned, "reject", reason="不属于本单位职责范围").status_code
        == 303
    )
    # The resident confirms the repair and rates it.
    private = _private_link(app, repaired)
    client.post(f"/t/{repaired}/confirm", data=_form(client, private, "confirm"))
    rating = _form(client, private, "rating-form")
    client.post(f"/t/{repaired}/rate", data={**rating, "stars": "5", "comment": "很好"})
    client.post(f"/t/{repaired}/rate", data={**rating, "stars": "1"})
    push(client, order(number="GD-A"))  # a late repeat changes nothing
    for _ in range(3):
        jobs.run_due()

    by_order: dict[str, list[dict]] = {}
    for _headers, body in hotline.replies:
        by_order.setdefault(body["workordercode"], []).append(body)
    assert [b["state"] for b in by_order["GD-A"]] == [1, 1, 2, 4]
    completed, satisfaction = by_order["GD-A"][2], by_order["GD-A"][3]
    with app.app_context():
        photos = find_ticket(repaired).completion_photos
        urls = [f"{PHOTO_URL}{p.sha256}/display.jpg" for p in photos]
    assert urls and completed["attachments"].split(",") == urls
    assert "换了灯泡" in completed["content"] and "王师傅" in completed["content"]
    assert "5星" in satisfaction["content"] and "很好" in satisfaction["content"]
    [back] = by_order["GD-B"]
    assert back["state"] == 3 and "不属于本单位职责范围" in back["content"]
    with app.app_context():
        sent = db.session.scalars(sa.select(HotlineReply.status)).all()
        assert sent == ["sent"] * 5
