"""A resident scans the sticker, reports with a photo, gets a number and follows it."""

from __future__ import annotations

import re

import sqlalchemy as sa

from dispatch.models import Route
from repair.db import db
from repair.models import Photo, Ticket, TicketEvent, TicketStatus
from tests.actions import hidden_fields
from tests.factories import jpeg_bytes


def test_resident_scans_sticker_and_sees_where_they_are(resident):
    response = resident.open_form()
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "阳光花园 3栋 2单元" in html
    assert 'capture="environment"' in html
    assert "电梯" in html  # category chips, in Chinese by default


def test_resident_reports_with_photo_and_gets_ticket_number(app, resident, client):
    number = resident.report(description="扶手松动", phone="138 0013 8000", name="张")
    assert number.startswith("YG-")
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        # classified and sent to the demo route's contractor at once
        assert ticket.status is TicketStatus.DISPATCHED
        assert [e.action for e in ticket.events] == [
            "submitted",
            "classified",
            "dispatch",
        ]
        assert ticket.reporter_phone == "+8613800138000"
        assert ticket.entrance.label() == "阳光花园 3栋 2单元"
        assert len(ticket.report_photos) == 1
        event = db.session.scalar(
            sa.select(TicketEvent).where(TicketEvent.ticket == ticket)
        )
        assert (event.action, event.actor_type.value, event.channel.value) == (
            "submitted",
            "resident",
            "qr",
        )
        key = ticket.resident_key
    tracking = client.get(f"/t/{number}?k={key}").get_data(as_text=True)
    assert "扶手松动" in tracking
    assert "阳光花园 3栋 2单元" in tracking
    # Signed photo links carry a content hash and an expiry time whose digits may
    # be anything ("e=1795698000" failed this once): they are not the phone.
    visible = re.sub(r'/photos/[^"]*', "", tracking)
    assert "138" not in visible and "8000" not in visible.replace("0800", "")


def test_tracking_page_never_shows_the_residents_phone(app, resident, client):
    number = resident.report(phone="13912345678")
    for page in (f"/t/{number}", f"/t/{number}?lang=en"):
        assert "13912345678" not in client.get(page).get_data(as_text=True)
        assert "+8613912345678" not in client.get(page).get_data(as_text=True)


def test_confirmation_shows_the_number_and_the_tracking_link(resident, client):
    response = resident.submit()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    number = page.split('id="ticket-number">')[1].split("<")[0]
    # the resident's own (private) link: the details and, later, confirming the repair
    assert f'href="/t/{number}?k=' in page


def test_the_confirmation_says_what_is_happening_not_that_it_has_happened(
    app, resident, client
):
    # It said "社区维修专干和维保单位已收到通知" (they have received it) while the
    # contractor's SMS was still waiting for a worker, and also when no contractor
    # was sent at all (no route for the place): an outside tester's report.
    page = client.get(resident.submit().headers["Location"]).get_data(as_text=True)
    assert "已收到通知" not in page
    assert "正在短信通知维保单位" in page
    with app.app_context():
        db.session.execute(sa.delete(Route))
        db.session.commit()
    other = resident.submit(description="5楼楼道的窗户关不上", spot="5楼楼道")
    page = client.get(other.headers["Location"]).get_data(as_text=True)
    assert "正在短信通知维保单位" not in page
    assert "会安排维保单位处理" in page


def test_an_urgent_reports_pages_say_who_is_being_texted(app, resident, client):
    # The danger card said "社区维修专干和维保单位已收到提醒" on both pages, also in
    # a community with no contractor, where no maintenance company was texted at
    # all (outside tester).
    response = resident.submit(description="电梯里有人被困", danger="trapped")
    received = client.get(response.headers["Location"]).get_data(as_text=True)
    number = received.split('id="ticket-number">')[1].split("<")[0]
    track = client.get(received.split('id="private-link" href="')[1].split('"')[0])
    for page in (received, track.get_data(as_text=True)):
        assert "已收到提醒" not in page
        assert "正在短信提醒社区维修专干和维保单位" in page
    with app.app_context():
        db.session.execute(sa.delete(Route))
        db.session.commit()
    response = resident.submit(
        description="地下室水管爆了，水在往配电房流", danger="flood"
    )
    received = client.get(response.headers["Location"]).get_data(as_text=True)
    assert number not in received
    assert "正在短信提醒社区维修专干，由其安排维保单位" in received
    assert "正在短信提醒社区维修专干和维保单位" not in received


def test_someone_else_opening_the_confirmation_gets_the_public_page(app, resident):
    response = resident.submit()
    stranger = app.test_client()
    assert stranger.get(response.headers["Location"]).status_code == 302


def test_times_are_shown_in_shanghai_time(app, resident, client):
    from freezegun import freeze_time

    with freeze_time("2026-11-22 01:30:00"):  # 09:30 in Shanghai
        number = resident.report()
    assert number.startswith("YG-20261122-")
    assert "2026-11-22 09:30" in client.get(f"/t/{number}").get_data(as_text=True)


def test_ticket_numbers_follow_the_local_day(app, resident):
    from freezegun import freeze_time

    with freeze_time("2026-11-22 16:30:00"):  # already 00:30 on the 23rd in Shanghai
        first = resident.report()
        second = resident.report(description="楼道灯不亮")
    assert first == "YG-20261123-0001"
    assert second == "YG-20261123-0002"


def test_double_submission_gives_one_ticket(app, resident, client):
    resident.open_form()
    first = resident.submit(reuse_form=True)
    again = resident.submit(reuse_form=True)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 1


def test_english_by_accept_language_and_by_toggle(resident, client):
    html = resident.open_form(**{"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True
    )
    assert "Report a repair" in html and "Send report" in html
    assert 'lang="en"' in html
    toggled = client.get(f"/q/{resident.code}?lang=zh_CN").get_data(as_text=True)
    assert "提交" in toggled
    # the choice sticks in a cookie
    again = client.get(f"/q/{resident.code}", headers={"Accept-Language": "en"})
    assert 'lang="zh-CN"' in again.get_data(as_text=True)


def test_form_page_is_small_and_self_contained(resident):
    response = resident.open_form()
    body = response.get_data()
    assert len(body) <= 30 * 1024, len(body)
    html = body.decode()
    assert "http://" not in html.replace("http://repair.test", "")
    assert "https://" not in html
    assert "<link" not in html  # no external stylesheet or font


def test_rotated_sticker_answers_with_a_friendly_page(app, resident, client):
    from repair.models import Entrance
    from repair.places import assign_new_code

    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == resident.code)
        )
        new_code = assign_new_code(entrance)
        db.session.commit()
    old = client.get(f"/q/{resident.code}")
    assert old.status_code == 410
    html = old.get_data(as_text=True)
    assert "阳光花园 3栋 2单元" in html and "0755-8888 6666" in html
    assert client.get(f"/q/{new_code}").status_code == 200


def test_unknown_sticker_code_gets_a_helpful_page(client, demo):
    response = client.get("/q/zzzzzzzz")
    assert response.status_code == 404
    assert "不认识" in response.get_data(
        as_text=True
    ) or "recognise" in response.get_data(as_text=True)


def test_photos_are_served_only_through_the_app(app, resident, client, jobs):
    number = resident.report(photos=[(jpeg_bytes(gps=True), "gps.jpg")])
    from repair.security import photo_url

    jobs.run_due()
    with app.test_request_context():
        photo = db.session.scalar(sa.select(Photo))
        display_url, thumb_url = photo_url(photo, "display"), photo_url(photo, "thumb")
    display = client.get(display_url)
    assert display.status_code == 200 and display.mimetype == "image/jpeg"
    assert b"Exif" not in display.data[:4096]
    assert client.get(thumb_url).status_code == 200
    assert client.get("/photos/../../etc/passwd/display.jpg").status_code == 404
    assert client.get(f"/photos/{'0' * 64}/display.jpg").status_code == 404
    assert number


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
    assert response.json["redis"] == "ok"


def test_csrf_token_is_required(resident, client):
    resident.open_form()
    data = dict(resident.last_form, description="x", csrf_token="forged")
    response = client.post(f"/q/{resident.code}", data=data)
    assert response.status_code == 422
    assert hidden_fields(response.get_data(as_text=True))["submission_key"]
