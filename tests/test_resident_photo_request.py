"""The officer asks a resident for a photo later; the SMS leads to where they add it.
The lift the resident named is in the contractor's SMS and on the board."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from dispatch.models import OutboxMessage
from repair.db import db
from repair.models import Entrance, Lift
from tests.actions import hidden_fields
from tests.factories import find_ticket, jpeg_bytes

RESIDENT = "+8613912345678"


def _newest_sms(phone: str) -> OutboxMessage:
    return db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.to_phone == phone)
        .order_by(OutboxMessage.id.desc())
    ).first()


def test_officer_asks_for_a_photo_and_the_resident_adds_it(app, resident, officer):
    number = resident.report(description="楼道灯不亮", photos=[], phone=RESIDENT)
    assert officer.act(number, "ask-photo").status_code == 303
    with app.app_context():
        sms = _newest_sms(RESIDENT)
        assert sms.template == "resident_photo_request"
        assert "补拍" in sms.body
        short = re.search(r"https?://[^/\s]+(/j/[2-9A-Z]{8})$", sms.body).group(1)

    phone = app.test_client()  # the resident's phone, from the SMS
    link = phone.get(short).headers["Location"]
    assert "?k=" in link  # the code opens their private page: only they can add it
    page = phone.get(link).get_data(as_text=True)
    assert 'id="add-photo-form"' in page
    data = {
        **hidden_fields(page),
        **dict(re.findall(r'name="(k)" type="hidden" value="([^"]+)"', page)),
    }
    data["photos"] = [(io.BytesIO(jpeg_bytes()), "lamp.jpg")]
    response = phone.post(
        f"/t/{number}/photos", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 303
    # said on the page the resident lands on (outside tester: no word of it)
    landed = phone.get(response.headers["Location"]).get_data(as_text=True)
    assert "谢谢，照片已收到" in landed
    with app.app_context():
        ticket = find_ticket(number)
        assert len(ticket.report_photos) == 1
        assert [e.action for e in ticket.events][-2:] == [
            "photo_requested",
            "photo_added",
        ]
    # a neighbour without the key cannot add one
    assert 'id="add-photo-form"' not in app.test_client().get(f"/t/{number}").get_data(
        as_text=True
    )
    forged = {**data, "k": "guess", "photos": [(io.BytesIO(jpeg_bytes()), "x.jpg")]}
    assert (
        app.test_client()
        .post(f"/t/{number}/photos", data=forged, content_type="multipart/form-data")
        .status_code
        == 403
    )


def test_no_phone_no_photo_request(app, resident, officer):
    number = resident.report(description="楼道灯不亮", photos=[])
    officer.act(number, "ask-photo")
    with app.app_context():
        assert not any(
            e.action == "photo_requested" for e in find_ticket(number).events
        )


def test_the_named_lift_is_in_the_contractors_sms_and_on_the_board(
    app, client, resident, officer, entrance_code
):
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        lift = Lift(entrance=entrance, name="2号梯", certificate_number="3110440300")
        db.session.add(lift)
        db.session.commit()
        lift_id = lift.id
    number = resident.report(
        description="电梯困人", spot="", lift=str(lift_id), danger="trapped"
    )
    with app.app_context():
        assert "2号梯（3110440300）" in _newest_sms("+8613800000001").body
    assert "2号梯（3110440300）" in client.get(f"/board/t/{number}").get_data(
        as_text=True
    )
    assert "2号梯（3110440300）" in client.get("/board/cards").get_data(as_text=True)


def test_a_photo_past_the_reports_room_says_how_many_it_already_has(app, resident):
    photos = [(jpeg_bytes(color=(9, 9, n)), f"{n}.jpg") for n in range(2)]
    number = resident.report(description="楼道灯不亮", photos=photos)
    page = resident.client.get(f"/t/{number}").get_data(as_text=True)
    data = {
        **hidden_fields(page.split('id="add-photo-form"')[1]),
        **dict(re.findall(r'name="(k)" type="hidden" value="([^"]+)"', page)),
    }
    data["photos"] = [
        (io.BytesIO(jpeg_bytes(color=(9, 9, n))), f"{n}.jpg") for n in (7, 8)
    ]
    response = resident.client.post(
        f"/t/{number}/photos", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    # not "最多 1 张照片" beside a form that promised 3
    assert "本报修已有 2 张照片，还能再加 1 张，已保留前 1 张。" in response.get_data(
        as_text=True
    )


def test_an_actions_address_opened_again_leads_to_the_tracking_page(resident):
    # Outside tester: a rating refused, then the tab restored: 405.
    number = resident.report(description="楼道灯不亮")
    for action in ("confirm", "not-fixed", "photos", "rate"):
        response = resident.client.get(f"/t/{number}/{action}")
        assert response.status_code == 303, action
        assert response.headers["Location"].endswith(f"/t/{number}")
