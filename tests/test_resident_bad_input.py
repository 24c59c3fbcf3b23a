"""Bad input gets a clear message in the resident's language and loses nothing typed."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import sqlalchemy as sa
from PIL import Image

from repair.db import db
from repair.models import Ticket
from tests.factories import jpeg_bytes

TYPED = {
    "description": "楼道灯一直闪，晚上看不清台阶",
    "spot": "5楼楼梯口",
    "name": "王阿姨",
}


def _ticket_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Ticket.id)))


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """Returns a small PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)


def _keeps_what_was_typed(html: str) -> None:
    assert TYPED["description"] in html
    assert TYPED["spot"] in html
    assert TYPED["name"] in html


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        ((b"just some text", "notes.txt"), "不是可识别的照片"),
        ((b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "scan.pdf"), "不是可识别的照片"),
        ((jpeg_bytes()[:800], "cut.jpg"), "不是可识别的照片"),
        ((_bomb_png(), "bomb.png"), "像素过多"),
        ((b"", "empty.jpg"), "是空的"),
    ],
    ids=["text", "pdf", "truncated-jpeg", "decompression-bomb", "empty-file"],
)
def test_rejected_photo_keeps_the_typed_report(app, resident, photo, message):
    response = resident.submit(photos=[photo], **TYPED)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html
    _keeps_what_was_typed(html)
    assert _ticket_count(app) == 0


def _app_with(settings: dict, **overrides):
    from repair import create_app
    from repair.seed import seed_demo

    app = create_app({**settings, **overrides})
    with app.app_context():
        seed_demo(app.instance_path)
    return app


def _any_code(app) -> str:
    from repair.models import Entrance

    with app.app_context():
        return db.session.scalar(sa.select(Entrance.code).limit(1))


def test_photo_over_the_size_limit_is_explained_in_english(settings):
    from tests.actions import ResidentActions

    app = _app_with(settings, PHOTO_MAX_BYTES=50_000)
    client = app.test_client()
    resident = ResidentActions(client, _any_code(app))
    resident.open_form(**{"Accept-Language": "en"})
    noisy = Image.effect_noise((500, 400), 80).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=95)
    response = resident.submit(
        photos=[(buffer.getvalue(), "huge.jpg")],
        reuse_form=True,
        headers={"Accept-Language": "en"},
        **TYPED,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "“huge.jpg” is too large (at most 0.0477 MB)" in html
    _keeps_what_was_typed(html)
    assert _ticket_count(app) == 0


def test_a_report_without_a_photo_is_taken_after_a_strong_prompt(app, resident):
    form = resident.open_form().get_data(as_text=True)
    assert 'id="photo-prompt"' in form and "请在安全的情况下拍一张照片" in form
    response = resident.submit(photos=[], **TYPED)
    assert response.status_code == 303
    assert _ticket_count(app) == 1


def test_empty_description_is_refused_and_the_photo_is_kept(app, resident):
    response = resident.submit(description="   ", spot="5楼楼梯口", name="王阿姨")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请描述一下问题" in html
    assert "已上传 1 张照片" in html  # the accepted photo is kept, not asked for again
    assert _ticket_count(app) == 0
    # the resident only adds the description; the kept photo goes with the ticket
    fixed = resident.submit(photos=[], reuse_form=True, **TYPED)
    assert fixed.status_code == 303
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert len(ticket.report_photos) == 1


def test_invalid_phone_is_explained(app, resident):
    response = resident.submit(phone="12345", **TYPED)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请输入有效的电话号码" in html
    assert 'value="12345"' in html
    _keeps_what_was_typed(html)


@pytest.mark.parametrize("landline", ["0755-8888 6666", "400 800 1234", "020 12345678"])
def test_a_number_that_cannot_receive_sms_is_explained(app, resident, landline):
    # The field is the phone for progress SMS: a landline was taken, and every
    # text to it failed at the provider without the resident knowing.
    response = resident.submit(phone=landline, **TYPED)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "这个号码收不到短信，请填写手机号" in html
    assert f'value="{landline}"' in html  # as typed, not rewritten
    _keeps_what_was_typed(html)
    # a mobile number, and a number abroad that may be a mobile, are taken
    for mobile in ("139 1234 5678", "+852 9123 4567", "+1 500 555 0006"):
        assert resident.submit(phone=mobile, **TYPED).status_code == 303, mobile


def test_forged_kept_photos_are_ignored(app, resident):
    resident.open_form()
    resident.last_form["kept_photos"] = "forged.token"
    response = resident.submit(photos=[], reuse_form=True, **TYPED)
    assert response.status_code == 303
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.photos == []  # nothing attached from the forged token


def test_iphone_heic_photo_is_accepted(app, resident):
    import pillow_heif

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 100, 50)).save(buffer, format="HEIF")
    number = resident.report(photos=[(buffer.getvalue(), "IMG_0001.HEIC")])
    assert number


def test_more_than_three_photos_keeps_the_first_three(app, resident):
    photos = [(jpeg_bytes(color=(i * 40, 80, 80)), f"p{i}.jpg") for i in range(4)]
    response = resident.submit(photos=photos, **TYPED)
    assert response.status_code == 422
    assert "已保留前 3 张" in response.get_data(as_text=True)
    assert resident.submit(photos=[], reuse_form=True, **TYPED).status_code == 303


def test_the_same_photo_chosen_four_times_is_one_photo_not_too_many(app, resident):
    # An outside tester picked one photo four times and was told "at most 3
    # photos; we kept the first 3", with one kept. It is one photo: the report goes.
    same = jpeg_bytes(color=(10, 120, 200))
    photos = [(same, f"IMG_{i}.jpg") for i in range(4)]
    response = resident.submit(photos=photos, **TYPED)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    with app.app_context():
        assert len(db.session.scalar(sa.select(Ticket)).report_photos) == 1
    # two the same and three others: the fourth distinct one is still too many
    others = [(jpeg_bytes(color=(i * 60, 30, 30)), f"o{i}.jpg") for i in range(3)]
    response = resident.submit(photos=[(same, "a.jpg"), (same, "b.jpg"), *others])
    assert response.status_code == 422
    assert "已保留前 3 张" in response.get_data(as_text=True)


def test_invisible_direction_and_control_characters_are_dropped(app, resident):
    # An outside tester's description with a right-to-left override, zero-width
    # spaces and a bell went as typed into the contractor's SMS and onto the
    # board, where the override turns the text around. Nobody sees them: they go;
    # the joiner inside an emoji stays.
    typed = "楼道\u202e灯不亮\u200b\u200b，\x07快来\u2066修\u2069 👨\u200d🔧"
    number = resident.report(description=typed, spot="2楼\ufeff楼梯口")
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        assert ticket.description == "楼道灯不亮，快来修 👨\u200d🔧"
        assert ticket.spot == "2楼楼梯口"
        from dispatch.models import OutboxMessage

        bodies = db.session.scalars(sa.select(OutboxMessage.body)).all()
        assert bodies and not any("\u202e" in b or "\x07" in b for b in bodies)


def test_ticket_is_saved_when_redis_is_down(settings):
    from tests.actions import ResidentActions

    # nothing listens on port 1
    app = _app_with(settings, REDIS_URL="redis://127.0.0.1:1/0")
    client = app.test_client()
    resident = ResidentActions(client, _any_code(app))
    number = resident.report()
    assert number
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["database"] == "ok"
    assert health.json["redis"].startswith("error")


def test_a_category_that_is_not_offered_is_refused_and_keeps_the_report(app, resident):
    response = resident.submit(category="not-a-category", **TYPED)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "不是有效的选择" in html  # WTForms' own message, translated
    _keeps_what_was_typed(html)
    assert _ticket_count(app) == 0
    assert resident.report(category="lighting", **TYPED)


def test_a_too_long_description_says_how_long_and_keeps_every_word(app, resident):
    # Outside tester: a long WeChat paste was cut at 2000 without a word.
    long_text = "楼道灯一直闪，" * 300  # 2100 characters
    response = resident.submit(description=long_text, spot="5楼楼梯口")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "现在有 2100 字，请删减到 2000 字以内。" in html
    assert long_text in html  # shown again whole, for the resident to shorten
    assert 'maxlength="2000"' not in html  # the browser never cuts a paste
    assert 'data-max-chars="2000"' in html
    assert _ticket_count(app) == 0


def test_emoji_and_line_breaks_count_one_character_each(app, resident):
    # 👍🏻 is two code points (thumb and skin tone) and one character to the
    # resident (outside tester: "多了 22 字" on 2000 as she counted them); a
    # browser sends a line break as CRLF.
    lines = ["灯不亮👍🏻" * 40] * 10  # 160 characters a line, 200 code points
    text = "\r\n".join(lines) + "\r\n" + "水" * 390  # 2000 characters
    assert len(text) == 2410  # code points, CRs included
    refused = resident.submit(description=text + "漏")
    assert refused.status_code == 422
    assert "现在有 2001 字，请删减到 2000 字以内。" in refused.get_data(as_text=True)
    number = resident.report(description=text)
    with app.app_context():
        saved = db.session.scalar(
            sa.select(Ticket.description).where(Ticket.number == number)
        )
    assert saved == text.replace("\r\n", "\n")


def test_stacked_marks_are_counted_one_by_one(app, resident):
    # A few "characters" stacked with thousands of combining marks are not short.
    text = "灯" + "\u0301" * 9000
    response = resident.submit(description=text)
    assert response.status_code == 422
    assert "现在有 9001 字" in response.get_data(as_text=True)
