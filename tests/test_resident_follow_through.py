"""Residents close the loop: confirm or dispute the repair, rate it, say "me too"."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.contractor.tokens import code_owner
from dispatch.models import Assignment, OutboxMessage
from dispatch.sla.sweep import sweep
from repair.db import db
from repair.models import Rating, TicketFollower, TicketStatus
from tests.actions import ContractorActions, hidden_fields
from tests.factories import find_ticket, jpeg_bytes

PRIMARY = "+8613800000001"
RESIDENT = "+8613912345678"


def _private_link(app, number: str) -> str:
    with app.app_context():
        return f"/t/{number}?k={find_ticket(number).resident_key}"


def _card(client, number: str) -> str:
    """Returns the ticket's card on the (officer's) board."""
    cards = client.get("/board/cards").get_data(as_text=True)
    return cards.split(f'data-number="{number}"')[1].split("</article>")[0]


def _form(client, path: str, form_id: str) -> dict:
    html = client.get(path).get_data(as_text=True)
    section = html.split(f'id="{form_id}"')[1]
    fields = dict(
        re.findall(r'name="(csrf_token|k|kept_photos)"[^>]*?value="([^"]*)"', section)
    )
    return {**hidden_fields(section), **fields}


@pytest.fixture
def repaired(app, client, resident) -> str:
    """A loose handrail, reported with a phone number, accepted and repaired."""
    number = resident.report(description="扶手松动", phone="13912345678")
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    return number


def test_only_the_resident_with_the_private_link_sees_the_questions(
    app, client, repaired
):
    neighbour = app.test_client()  # another browser: not the one that reported
    public = neighbour.get(f"/t/{repaired}").get_data(as_text=True)
    assert 'id="confirm"' not in public
    assert 'id="confirm"' not in neighbour.get(f"/t/{repaired}?k=guess").get_data(
        as_text=True
    )
    assert 'id="confirm"' in client.get(_private_link(app, repaired)).get_data(
        as_text=True
    )


@pytest.mark.parametrize("key", ["", "forged-key"])
def test_a_forged_or_missing_key_cannot_confirm_or_reopen(app, client, repaired, key):
    form = _form(client, _private_link(app, repaired), "confirm")
    form["k"] = key
    assert client.post(f"/t/{repaired}/confirm", data=form).status_code == 403
    form["note"] = "没修好"
    assert client.post(f"/t/{repaired}/not-fixed", data=form).status_code == 403
    with app.app_context():
        assert find_ticket(repaired).status is TicketStatus.COMPLETED


def test_resident_confirms_and_rates_once(app, client, repaired):
    private = _private_link(app, repaired)
    response = client.post(
        f"/t/{repaired}/confirm", data=_form(client, private, "confirm")
    )
    assert response.status_code == 303
    with app.app_context():
        ticket = find_ticket(repaired)
        assert ticket.status is TicketStatus.CLOSED
        close = ticket.events[-1]
        assert (close.action, close.actor_type.value) == ("close", "resident")
    rating = _form(client, private, "rating-form")
    client.post(
        f"/t/{repaired}/rate", data={**rating, "stars": "5", "comment": "很及时"}
    )
    client.post(f"/t/{repaired}/rate", data={**rating, "stars": "1"})
    with app.app_context():
        saved = db.session.get(Rating, find_ticket(repaired).id)
        assert (saved.stars, saved.comment) == (5, "很及时")
    assert 'id="rated"' in client.get(private).get_data(as_text=True)


def test_a_rating_with_a_pasted_nul_says_what_was_done_and_keeps_the_rest(
    app, client, repaired
):
    # Outside tester: 挺好的👍🏾\x00谢谢 pasted from WeChat came back with the
    # form refilled, no message, and the rating not saved.
    private = _private_link(app, repaired)
    client.post(f"/t/{repaired}/confirm", data=_form(client, private, "confirm"))
    rating = _form(client, private, "rating-form")
    response = client.post(
        f"/t/{repaired}/rate",
        data={**rating, "stars": "4", "comment": "挺好的👍🏾\x00谢谢"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "已删除其中一个无法保存的不可见字符" in html
    assert "挺好的👍🏾谢谢" in html  # what she wrote, without the NUL


def test_a_not_fixed_after_confirming_and_rating_reopens_nothing(app, client, repaired):
    # Outside tester: a "not fixed" replayed from a stale tab reopened a ticket
    # the resident had confirmed and rated 5 stars, and sent the job out again.
    private = _private_link(app, repaired)
    stale = _form(client, private, "not-fixed-form")  # the tab left open
    client.post(f"/t/{repaired}/confirm", data=_form(client, private, "confirm"))
    rating = _form(client, private, "rating-form")
    client.post(f"/t/{repaired}/rate", data={**rating, "stars": "5"})
    response = client.post(
        f"/t/{repaired}/not-fixed", data={**stale, "note": "评价后又说没修好"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "已确认修好并办结" in html and "请扫描现场的报修码重新报修" in html
    assert "您写的内容：评价后又说没修好" in html  # what she wrote, shown back
    with app.app_context():
        ticket = find_ticket(repaired)
        assert ticket.status is TicketStatus.CLOSED
        assert "reopen" not in [event.action for event in ticket.events]
        assert db.session.get(Rating, ticket.id).stars == 5


def test_not_fixed_reopens_and_sends_the_job_out_again(app, client, repaired, officer):
    private = _private_link(app, repaired)
    form = _form(client, private, "not-fixed-form")
    response = client.post(
        f"/t/{repaired}/not-fixed",
        data={
            **form,
            "note": "扶手还是晃",
            "photos": [(io.BytesIO(jpeg_bytes(color=(200, 60, 60))), "still.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    # the page the resident lands on says it was heard, with their note (an
    # outside tester saw no word of it, and the page jump back to its top)
    landed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert landed.index('id="reopened"') < landed.index('id="ticket-number"')
    assert "“没有修好”已收到" in landed and "您的说明：扶手还是晃" in landed
    assert 'id="reopened"' not in client.get(f"/t/{repaired}").get_data(as_text=True)
    with app.app_context():
        ticket = find_ticket(repaired)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.completed_at is None
        reopen = next(e for e in ticket.events if e.action == "reopen")
        assert (reopen.actor_type.value, reopen.note) == ("resident", "扶手还是晃")
        assert ticket.on_site_due_at > reopen.at  # the clocks start again
        assert [p.purpose for p in ticket.photos].count("reopen") == 1
        roles = db.session.scalars(
            sa.select(Assignment.role).where(Assignment.ticket_id == ticket.id)
        ).all()
        assert roles == ["primary", "reopen"]
        assert ticket.contractor.phone == PRIMARY  # the same contractor, a new link
    card = _card(client, repaired)
    assert 'class="status status-urgent reopened"' in card  # flagged on the board


def test_the_old_job_link_opens_the_job_sent_again_to_the_same_contractor(
    app, client, repaired
):
    # After a "not fixed" the first link answered 410 "handed to another
    # contractor … no need to act": a worker checking the old text was told to do
    # nothing about their own rework (outside tester). It opens the job now.
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        first = contractor.link()
    form = _form(client, _private_link(app, repaired), "not-fixed-form")
    response = client.post(
        f"/t/{repaired}/not-fixed", data={**form, "note": "扶手还是晃"}
    )
    assert response.status_code == 303
    with app.app_context():
        again = contractor.link()
    assert again != first
    old = client.get(first)
    assert old.status_code == 302 and old.headers["Location"].endswith(again)
    page = client.get(again).get_data(as_text=True)
    assert "扶手还是晃" in page and 'id="accept"' in page


def test_an_english_reporters_link_opens_the_page_in_english(app, client, resident):
    # The text was in English and its link opened in Chinese, the phone
    # browser's language (outside tester).
    number = resident.submit(
        description="Handrail on the 3rd floor is loose",
        phone="13912345678",
        headers={"Accept-Language": "en"},
    )
    assert number.status_code == 303
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        contractor.tap(contractor.link(), "accept")
        [text] = db.session.scalars(
            sa.select(OutboxMessage.body).where(
                OutboxMessage.to_phone == "+8613912345678"
            )
        ).all()
    link = re.search(r"https?://[^/\s]+(/j/\S+)", text).group(1)
    assert link.endswith("?lang=en"), text
    phone = app.test_client()  # a Chinese phone's browser
    page = phone.get(link, headers={"Accept-Language": "zh-CN"}, follow_redirects=True)
    assert '<html lang="en"' in page.get_data(as_text=True)


def test_not_fixed_without_a_note_keeps_the_photo(app, client, repaired):
    private = _private_link(app, repaired)
    form = _form(client, private, "not-fixed-form")
    response = client.post(
        f"/t/{repaired}/not-fixed",
        data={**form, "note": "", "photos": [(io.BytesIO(jpeg_bytes()), "a.jpg")]},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请说明还有什么问题" in html
    assert "data:image/jpeg;base64," in html  # the photo is kept, not asked again
    with app.app_context():
        assert find_ticket(repaired).status is TicketStatus.COMPLETED


def test_follow_up_visit_then_automatic_closing(app, client, resident, jobs):
    with freeze_time("2026-11-22 02:00:00") as clock:
        number = resident.report(description="楼道灯不亮", phone="13912345678")
        with app.app_context():
            contractor = ContractorActions(client, PRIMARY)
            link = contractor.link()
        contractor.tap(link, "accept")
        contractor.complete(link, worker_name="王师傅")
        clock.tick(timedelta(hours=23))
        with app.app_context():
            assert sweep()["follow_ups"] == 0
        clock.tick(timedelta(hours=1))
        with app.app_context():
            assert sweep()["follow_ups"] == 1
            assert sweep()["follow_ups"] == 0  # once per completion
            bodies = db.session.scalars(
                sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == RESIDENT)
            ).all()
            [follow_up] = [b for b in bodies if "回访" in b]
            # It asks whether it is fixed; the code opens the private page.
            assert "是否已修好" in follow_up
            code = re.search(r"/j/([2-9A-Z]{8})$", follow_up).group(1)
            assert code_owner(code).ticket_id == find_ticket(number).id
        clock.tick(timedelta(hours=48))
        with app.app_context():
            assert sweep()["auto_closed"] == 1
            ticket = find_ticket(number)
            assert ticket.status is TicketStatus.CLOSED
            close = ticket.events[-1]
            assert (close.action, close.actor_type.value) == ("close", "system")
            assert close.data["automatic"] is True


def test_me_too_counts_the_resident_and_sends_them_updates(
    app, client, resident, officer
):
    number = resident.report(
        description="单元门禁坏了", spot="1楼大门 张伟家 13811112222"
    )
    landing = client.get(f"/q/{resident.code}").get_data(as_text=True)
    assert 'id="nearby"' in landing and f"/t/{number}/follow" in landing
    # a public page: nothing the resident typed (outside tester saw a name and a
    # phone number in the spot, and planted a notice with a WeChat id there)
    listed = landing.split('id="nearby"')[1].split("</section>")[0]
    assert "张伟" not in listed and "1381111" not in listed and "1楼大门" not in listed
    assert number in listed
    # "here", not 本单元: the list is on a common area's sticker too (tester)
    assert "这里已有的报修" in landing

    neighbour = app.test_client()
    page = neighbour.get(f"/t/{number}/follow").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
    response = neighbour.post(
        f"/t/{number}/follow", data={"csrf_token": token, "phone": "13600001111"}
    )
    assert response.status_code == 303
    neighbour.post(f"/t/{number}/follow", data={"csrf_token": token, "phone": ""})
    # counted already: no "count me in" again (outside tester)
    page = neighbour.get(f"/t/{number}/follow").get_data(as_text=True)
    assert "您已被计入此报修" in page
    assert "算我一个" not in page and "Count me in" not in page
    with app.app_context():
        ticket = find_ticket(number)
        assert [f.phone for f in ticket.followers] == ["+8613600001111"]
        assert [e.action for e in ticket.events].count("me_too") == 1
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    with app.app_context():
        told = db.session.scalars(
            sa.select(OutboxMessage.body).where(
                OutboxMessage.to_phone == "+8613600001111"
            )
        ).all()
        assert len(told) == 1 and f"/t/{number}" in told[0] and "?k=" not in told[0]
    card = _card(client, number)
    assert '<span class="status me-too"' in card and "+1</span>" in card
    # Done: the neighbour is told, and not asked to confirm a repair only its
    # reporter can confirm (outside tester: "请查看维修记录并确认", and a page
    # without the buttons). The reporter's page asks them.
    contractor.complete(link, worker_name="王师傅")
    with app.app_context():
        done = db.session.scalars(
            sa.select(OutboxMessage.body)
            .where(OutboxMessage.to_phone == "+8613600001111")
            .order_by(OutboxMessage.id)
        ).all()[-1]
    assert "已维修完成" in done and "确认" not in done


def test_a_merged_duplicates_resident_follows_the_original(
    app, client, officer, resident
):
    first = resident.report(description="路灯不亮")
    second = resident.report(description="路灯坏了", phone="13700002222")
    officer.act(second, "duplicate", original=first)
    with app.app_context():
        followers = db.session.scalars(
            sa.select(TicketFollower.phone).where(
                TicketFollower.ticket_id == find_ticket(first).id
            )
        ).all()
        assert followers == ["+8613700002222"]


def test_a_number_anyone_typed_gets_at_most_the_daily_cap_of_texts(
    app, client, resident, settings
):
    # A stranger follows several tickets with someone else's number: each
    # contractor's accept would text it; the cap stops the stream for the day.
    app.config["SMS_PER_NUMBER_PER_DAY"] = 2
    victim = "+8613600002222"
    numbers = [
        resident.report(description=f"{n}楼楼道灯不亮", spot=f"{n}楼")
        for n in (2, 3, 4)
    ]
    for number in numbers:
        follower = app.test_client()
        page = follower.get(f"/t/{number}/follow").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
        follower.post(
            f"/t/{number}/follow", data={"csrf_token": token, "phone": "13600002222"}
        )
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        links = contractor.links()
    for link in links:
        contractor.tap(link, "accept")
    with app.app_context():
        texts = db.session.scalars(
            sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == victim)
        ).all()
        assert len(texts) == 2


def test_pages_show_the_photos_of_the_latest_visit_not_the_failed_ones(
    app, client, repaired
):
    # Outside tester: after two failed repairs the resident's page showed every
    # completion photo under the last visit, and a visit without a photo showed
    # the first visit's arrival photo.
    private = _private_link(app, repaired)
    form = _form(client, private, "not-fixed-form")
    client.post(f"/t/{repaired}/not-fixed", data={**form, "note": "还是晃"})
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.tap(link, "arrive")  # no photo: the camera is broken
    contractor.complete(
        link, worker_name="王师傅", photos=[(jpeg_bytes(color=(10, 200, 10)), "b.jpg")]
    )
    page = client.get(private).get_data(as_text=True)
    shown = page.split('id="completion-photos"')[1].split("</div>")[0]
    assert shown.count("<img") == 1
    assert 'id="arrival-photo"' not in page
    with app.app_context():
        ticket = find_ticket(repaired)
        assert len([p for p in ticket.photos if p.purpose == "completion"]) == 2
