"""A resident says "someone is in danger" in one tap: urgent now, numbers to call."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dispatch.board.views import reasons_text
from dispatch.models import OutboxMessage
from dispatch.triage.classifier import classify
from repair.db import db
from repair.models import Community, Entrance, Lift, Ticket, Urgency
from tests.factories import find_ticket

CONTRACTOR_PHONE = "+8613800000001"  # the demo route's primary
OFFICER_PHONE = "+8613800000009"


@pytest.fixture
def lifts(app, entrance_code):
    """Gives 3栋 2单元 two lifts and the community its lift and gas lines."""
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        entrance.community.lift_emergency_phone = "96333"
        entrance.community.gas_emergency_phone = "0755-8333 3333"
        db.session.add_all(
            [
                Lift(
                    entrance=entrance,
                    name="1号梯",
                    certificate_number="31104403002019120001",
                    emergency_phone="400-800-1234",
                ),
                Lift(entrance=entrance, name="2号梯", sort_order=1),
            ]
        )
        db.session.commit()
        return {lift.name: lift.id for lift in entrance.lifts}


def _sms_to(phone: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == phone)
        )
    )


def _declare(resident, description: str, danger: str, **fields) -> str:
    """Reports with a danger chip and no photo; returns the ticket number."""
    return resident.report(
        description=description, spot="", photos=[], danger=danger, **fields
    )


def _call_now_of(client, number: str) -> str:
    """Returns the confirmation page from its numbers to call on."""
    page = client.get(f"/t/{number}/received").get_data(as_text=True)
    return page[page.index('id="call-now"') :]


def test_the_danger_question_comes_first_with_the_numbers_to_call(resident, lifts):
    html = resident.open_form().get_data(as_text=True)
    assert html.index("现在有危险吗？") < html.index('id="description"')
    # which lift, straight after: someone trapped is in one of them (an outside
    # tester had to scroll past the photos to say which)
    assert html.index('id="call-now"') < html.index('id="lift-label"')
    assert html.index('id="lift-label"') < html.index('id="photo-prompt"')
    for chip in (
        "有人被困",
        "燃气味",
        "漏电/冒火花",
        "大量漏水/水淹",
        "可能坠落/倒塌",
        "都没有",
    ):
        assert chip in html
    # Shown by CSS alone once a danger chip is checked: no JavaScript needed.
    panel = html[html.index('id="call-now"') :]
    for number in ("tel:119", "tel:110", "tel:120", "tel:96333", "tel:4008001234"):
        assert number in panel
    assert "tel:075588886666" in panel  # the community's service line
    assert "input:not([value=none]):checked~.call-now{display:block}" in html


def test_someone_trapped_without_a_photo_is_urgent_at_once(app, resident, lifts):
    response = resident.submit(
        description="电梯停在两层中间，我妈在里面", spot="", photos=[], danger="trapped"
    )
    assert response.status_code == 303
    received = resident.client.get(response.headers["Location"]).get_data(as_text=True)
    number = received.split('id="ticket-number">')[1].split("<")[0]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.declared_danger == "trapped"
        assert ticket.urgency is Urgency.URGENT
        assert ticket.category.slug == "lift"
        assert ticket.classification["reasons"][0] == "declared:lift:有人被困"
        assert not ticket.report_photos
        # the officer and the contractor hear at once
        assert any(number in body for body in _sms_to(CONTRACTOR_PHONE))
        assert any("紧急" in body for body in _sms_to(OFFICER_PHONE))
    # the confirmation page puts the lift lines first
    call_now = received[received.index('id="call-now"') :]
    assert "有人被困电梯" in call_now
    assert call_now.index("tel:4008001234") < call_now.index("tel:119")
    assert "tel:96333" in call_now


def test_a_danger_chip_sets_the_category_only_where_the_resident_gave_none(
    app, resident
):
    gas = _declare(resident, "楼道里有股味道", "gas")
    chosen = resident.report(
        description="楼道里有股味道",
        spot="",
        photos=[],
        danger="gas",
        category="drainage",
    )
    with app.test_request_context("/?lang=zh_CN"):
        ticket = find_ticket(gas)
        assert (ticket.urgency, ticket.category.slug) == (Urgency.URGENT, "gas")
        assert reasons_text(ticket.classification["reasons"]).startswith(
            "居民报告: 燃气味"
        )
        assert find_ticket(chosen).urgency is Urgency.URGENT
        # the resident's own category goes to the classifier as usual
        hinted = classify("楼道里有股味道", "drainage").category
        assert find_ticket(chosen).category.slug == hinted != "gas"


def test_no_danger_leaves_the_classifier_to_decide(app, resident):
    number = resident.report(description="楼道灯不亮", danger="none")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.declared_danger is None
        assert ticket.urgency is Urgency.GENERAL
        assert not any(
            r.startswith("declared:") for r in ticket.classification["reasons"]
        )


def test_the_named_lift_goes_with_the_report(app, resident, lifts):
    number = resident.report(description="1号梯按钮不灵", lift=str(lifts["1号梯"]))
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.lift.label() == "1号梯（31104403002019120001）"
    # and the contractor's job page names it, certificate number and all
    from tests.actions import ContractorActions

    contractor = ContractorActions(resident.client, CONTRACTOR_PHONE)
    with app.app_context():
        link = contractor.link()
    page = resident.client.get(link, follow_redirects=True).get_data(as_text=True)
    lift = page.split('id="job-lift">')[1].split("<")[0]
    assert lift == "1号梯（31104403002019120001）"


def test_a_lift_of_another_entrance_is_refused(app, resident, lifts):
    with app.app_context():
        other = db.session.scalar(
            sa.select(Entrance).where(Entrance.code != resident.code)
        )
        db.session.add(Lift(entrance=other, name="别处的梯"))
        db.session.commit()
        foreign = db.session.scalar(sa.select(Lift.id).where(Lift.name == "别处的梯"))
    response = resident.submit(lift=str(foreign))
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


def test_the_community_sets_its_numbers(app, resident):
    with app.app_context():
        community = db.session.scalar(sa.select(Community))
        community.fire_phone = "0755-119"
        db.session.commit()
    html = resident.open_form().get_data(as_text=True)
    assert "tel:0755119" in html and "tel:96333" not in html


def test_the_confirmation_names_the_community_s_own_deadlines(app, resident, lifts):
    """The confirmation states the deadlines the ticket really has (the
    community's own SLA), not the default 30 minutes / 24 hours."""
    from dispatch.models import SlaPolicy
    from repair.i18n import format_local

    with app.app_context():
        community_id = db.session.scalar(sa.select(Community.id))
        db.session.add(
            SlaPolicy(
                community_id=community_id,
                urgent_contact_seconds=20 * 60,
                urgent_on_site_seconds=90 * 60,
                general_on_site_seconds=8 * 3600,
            )
        )
        db.session.commit()
    pages = {}
    # (a smell of gas: someone trapped in a lift has the 30-minute lift clock)
    for danger, text in (("gas", "楼道里有煤气味"), ("none", "楼道灯不亮")):
        response = resident.submit(description=text, spot="", photos=[], danger=danger)
        page = resident.client.get(response.headers["Location"])
        pages[danger] = page.get_data(as_text=True)
    with app.test_request_context():
        for danger, html in pages.items():
            number = html.split('id="ticket-number">')[1].split("<")[0]
            ticket = find_ticket(number)
            zone = ticket.community.timezone or app.config["DEFAULT_TIMEZONE"]
            created = ticket.created_at
            stated = html[html.index('id="deadlines"') :].split("</p>")[0]
            if danger == "gas":
                assert format_local(created + timedelta(minutes=20), zone) in stated
                assert format_local(created + timedelta(minutes=90), zone) in stated
            else:
                assert "响应" not in stated
                assert format_local(created + timedelta(hours=8), zone) in stated
            assert "30分钟" not in html and "24小时" not in html


def test_someone_who_cannot_get_out_of_the_lift_is_trapped(app, resident, lifts):
    # "电梯停在三楼和四楼中间，我爸在里面出不来" was urgent for the lift, but the
    # confirmation did not show the lift's emergency numbers: only 困, 关人, 关在,
    # trapped and stuck counted as someone shut in.
    for text in (
        "电梯停在三楼和四楼中间，我爸在里面出不来",
        "升降機停咗，我阿爸喺入面出唔到嚟",
    ):
        response = resident.submit(description=text, photos=[])
        assert response.status_code == 303, text
        page = resident.client.get(response.headers["Location"])
        assert 'id="call-now"' in page.get_data(as_text=True), text


def test_someone_trapped_away_from_a_lift_is_not_sent_to_the_lift(
    app, client, resident
):
    # An outside tester chose 有人被困 for someone shut in a stairwell behind a
    # locked fire door, and for a child caught in a playground slide: both were
    # filed for the lift, sent to the lift's contractor, and the page said
    # "有人被困电梯：请立即拨打电梯应急电话". The words decide the category as
    # they would over the resident's own choice; with no words for a place, the
    # chip means the lift at a building's entrance, and never at a common area
    # that lists no lift.
    from repair.models import PlaceKind
    from tests.actions import ResidentActions

    fire_door = _declare(
        resident, "消防通道的门锁住了，有人被关在楼梯间出不去", "trapped"
    )
    hurry = _declare(resident, "请快来", "trapped")
    with app.app_context():
        playground_code = db.session.scalar(
            sa.select(Entrance.code).where(
                Entrance.kind == PlaceKind.COMMON_AREA, ~Entrance.lifts.any()
            )
        )
    at_playground = ResidentActions(client, playground_code).report(
        description="快来人", spot="", photos=[], danger="trapped"
    )
    with app.app_context():
        for number, lift in ((fire_door, False), (hurry, True), (at_playground, False)):
            ticket = find_ticket(number)
            reasons = ticket.classification["reasons"]
            assert ticket.urgency is Urgency.URGENT, number
            assert (ticket.category.slug == "lift") is lift, (number, ticket.category)
            assert reasons[0] == f"declared:{ticket.category.slug}:有人被困"
            # the resident chose no category: the board shows no "resident's choice"
            assert not any(r.startswith("hint:") for r in reasons), reasons
    call_now = _call_now_of(client, fire_door)
    assert "tel:119" in call_now
    assert "有人被困电梯" not in call_now


def test_the_contractor_hears_which_danger_the_resident_declared(app, client, resident):
    # An outside tester chose 有人被困 and wrote only "请快来": the contractor's SMS
    # said "紧急工单…，电梯：请快来" and the job page "电梯 / 请快来"; only the
    # officer's board named the danger. The SMS puts it before the resident's
    # words (so a cut keeps it), the job page says it at the top.
    from dispatch.assignment.routes import current_assignment
    from dispatch.contractor.tokens import job_token

    number = _declare(resident, "请快来", "trapped")
    gas = _declare(resident, "楼道里有股味道", "gas")
    with app.app_context():
        bodies = _sms_to(CONTRACTOR_PHONE)
        (sent,) = [body for body in bodies if number in body]
        assert "居民报告有人被困：请快来" in sent
        assert any(gas in body and "居民报告燃气味：" in body for body in bodies)
        assignment = current_assignment(find_ticket(number))
        job = f"/j/{job_token(assignment.id)}"
        # the officer's alert names it too
        assert any(
            number in body and "有人被困" in body for body in _sms_to(OFFICER_PHONE)
        )
    page = client.get(job).get_data(as_text=True)
    assert 'id="declared-danger"' in page
    assert "居民报告：有人被困" in page


def test_a_message_never_carries_a_certificate_number_cut_short(app, resident, lifts):
    # An outside tester's SMS read "2号货梯（梯1144030320190099…": the place
    # variable (35 characters) cut the number, which then looked whole. Where
    # it does not fit, the lift's name goes alone (the job page has the number).
    number = _declare(
        resident,
        "1号梯停了，有人在里面",
        "trapped",
        lift=str(lifts["1号梯"]),
    )
    full = "31104403002019120001"
    with app.app_context():
        (sent,) = [body for body in _sms_to(CONTRACTOR_PHONE) if number in body]
        assert "1号梯" in sent
        digits = "".join(ch for ch in sent if ch.isdigit())
        assert full in sent or full[:8] not in digits, sent


def test_with_no_lift_line_set_the_page_does_not_ask_for_one(app, client, resident):
    # The demo community as seeded sets no 96333 and its lifts no maintenance
    # line: the page told the resident to call the lift's emergency line and
    # listed none (outside tester). The fire brigade rescues people from lifts.
    number = _declare(resident, "电梯停在5楼和6楼中间，里面有个老人", "trapped")
    call_now = _call_now_of(client, number)
    assert "有人被困电梯：请立即拨打消防救援电话 119" in call_now
    assert "电梯应急电话" not in call_now
    assert "tel:119" in call_now


def test_the_numbers_fit_the_danger(app, client, resident, lifts):
    # An outside tester found the gas company's line fifth for a smell of gas,
    # after 96333, and the gas line offered to someone trapped in a lift. Gas:
    # its company first, what not to do, no lift line. A lift: no gas line.
    gas = _declare(resident, "楼道里煤气味很重", "gas")
    call_now = _call_now_of(client, gas)
    numbers = call_now.split("tel:")[1:]
    assert numbers[0].startswith("075583333333"), numbers
    assert "tel:96333" not in call_now and "tel:4008001234" not in call_now
    assert "不要开关电灯和电器" in call_now
    trapped = _declare(resident, "电梯停在5楼和6楼中间，里面有个老人", "trapped")
    call_now = _call_now_of(client, trapped)
    assert "tel:96333" in call_now and "tel:075583333333" not in call_now
    assert "不要开关电灯和电器" not in call_now
    # what to tell the person inside (outside tester: gas had advice, a lift none)
    assert "不要扒门" in call_now
    assert "不要扒门" not in _call_now_of(client, gas)
    # the form shows the advice only with the gas chip (by CSS alone)
    form = resident.open_form().get_data(as_text=True)
    assert "#danger-gas:checked~.call-now .gas-advice{display:block}" in form


def test_the_board_names_the_declared_danger_in_the_readers_language(app):
    # The English board read "resident reports: 有人被困" (outside tester).
    with app.test_request_context("/?lang=en"):
        assert reasons_text(["declared:lift:有人被困"]) == (
            "resident reports: Someone is trapped"
        )
    with app.test_request_context("/?lang=zh_CN"):
        assert reasons_text(["declared:gas:燃气味"]) == "居民报告: 燃气味"


def test_words_that_say_gas_show_the_numbers_without_a_chip(
    app, client, resident, lifts
):
    # An outside tester chose "都没有" and wrote of a strong gas smell and a
    # headache: urgent, with a 30-minute clock, but no numbers and no advice.
    number = _declare(resident, "闻到很浓的煤气味，头有点晕", "none")
    call_now = _call_now_of(client, number)
    assert call_now.split("tel:")[1].startswith("075583333333")
    assert "不要开关电灯和电器" in call_now and "tel:96333" not in call_now
    # a report that is only urgent for a lift out of service gets none
    lift = _declare(resident, "电梯坏了", "none")
    page = client.get(f"/t/{lift}/received").get_data(as_text=True)
    assert 'id="call-now"' not in page


def test_the_tracking_page_keeps_the_numbers_until_someone_is_on_site(
    app, client, resident, lifts
):
    # An outside tester left the confirmation page and came back by the link in
    # the SMS: the report of a strong smell of gas showed its clock and no number
    # to call. The tracking page keeps the card until the contractor is on site,
    # for a neighbour opening the number too (the numbers are the community's).
    from tests.actions import ContractorActions

    gas = _declare(resident, "楼道里煤气味很重", "gas")
    page = client.get(f"/t/{gas}").get_data(as_text=True)
    call_now = page[page.index('id="call-now"') :]
    assert call_now.split("tel:")[1].startswith("075583333333")
    assert "不要开关电灯和电器" in call_now
    assert page.index('id="call-now"') < page.index('id="ticket-number"')
    public = app.test_client().get(f"/t/{gas}").get_data(as_text=True)
    assert 'id="call-now"' in public and "tel:075583333333" in public
    with app.app_context():
        contractor = ContractorActions(client, find_ticket(gas).contractor.phone)
        link = contractor.link()
    assert contractor.tap(link, "accept").status_code == 303
    assert 'id="call-now"' in client.get(f"/t/{gas}").get_data(as_text=True)
    assert contractor.tap(link, "arrive").status_code == 303
    assert 'id="call-now"' not in client.get(f"/t/{gas}").get_data(as_text=True)
    # a "not fixed" after the repair is no emergency call again (outside tester:
    # the red "call 119 now" came back for doors that did not open fully)
    assert contractor.complete(link, worker_name="王师傅").status_code == 303
    page = client.get(f"/t/{gas}").get_data(as_text=True)
    section = page.split('id="not-fixed-form"')[1]
    fields = dict(re.findall(r'name="(csrf_token|k)"[^>]*?value="([^"]*)"', section))
    reopened = client.post(f"/t/{gas}/not-fixed", data={**fields, "note": "还有点味"})
    assert reopened.status_code == 303
    assert 'id="call-now"' not in client.get(f"/t/{gas}").get_data(as_text=True)
    lamp = resident.report(description="3楼楼道灯不亮")
    assert 'id="call-now"' not in client.get(f"/t/{lamp}").get_data(as_text=True)


def test_the_board_says_the_resident_not_the_system_made_it_urgent(
    app, client, resident, officer
):
    # The board read "系统：紧急（待确认）" and "紧急（系统建议）" for a report whose
    # resident tapped 有人被困: the officer took it for the classifier's guess
    # (outside tester). It is the resident's word, still to confirm.
    declared = _declare(resident, "电梯停在5楼和6楼中间，里面有个老人", "trapped")
    guessed = resident.report(description="电梯里有人被困，门打不开")
    board = client.get("/board").get_data(as_text=True)
    card = board[board.index(f'data-number="{declared}"') :]
    assert "居民：紧急（待确认）" in card[: card.index("</article>")]
    card = board[board.index(f'data-number="{guessed}"') :]
    assert "系统：紧急（待确认）" in card[: card.index("</article>")]
    page = client.get(f"/board/t/{declared}").get_data(as_text=True)
    assert "紧急 (居民报告)" in page and "系统建议" not in page


def test_the_confirmation_promises_someone_trapped_in_a_lift_help_in_30_minutes(
    app, resident, lifts
):
    # An outside tester was told "on site by 12:21", two hours away, for someone
    # trapped in a lift (TSG T5002: 30 minutes in a city).
    from repair.i18n import format_local

    response = resident.submit(
        description="电梯停在两层中间", spot="", photos=[], danger="trapped"
    )
    html = resident.client.get(response.headers["Location"]).get_data(as_text=True)
    number = html.split('id="ticket-number">')[1].split("<")[0]
    stated = html[html.index('id="deadlines"') :].split("</p>")[0]
    with app.test_request_context():
        ticket = find_ticket(number)
        zone = ticket.community.timezone or app.config["DEFAULT_TIMEZONE"]
        assert format_local(ticket.created_at + timedelta(minutes=15), zone) in stated
        assert format_local(ticket.created_at + timedelta(minutes=30), zone) in stated


def test_a_neighbour_finding_a_report_in_danger_sees_it_urgent_and_the_numbers(
    app, client, resident, lifts
):
    # An outside tester scanned the sticker after a neighbour's gas report: the
    # list of reports here did not say it was urgent, and "me too" showed only a
    # phone field; the numbers and the gas advice came after joining.
    gas = _declare(resident, "楼道里煤气味很重", "gas")
    neighbour = app.test_client()
    form = neighbour.get(f"/q/{resident.code}").get_data(as_text=True)
    listed = form[form.index('id="nearby"') :]
    listed = listed[: listed.index("</section>")]
    assert 'class="status status-urgent">紧急</span>' in listed
    follow = neighbour.get(f"/t/{gas}/follow").get_data(as_text=True)
    assert follow.index('id="call-now"') < follow.index('id="follow-form"')
    assert "tel:075583333333" in follow and "不要开关电灯和电器" in follow


def test_nothing_says_help_is_coming_until_a_company_has_taken_the_job(
    app, resident, lifts
):
    # An outside tester read "救援正在赶来" on the form before sending, and on the
    # pages while nobody had accepted: a relative may stop calling and wait.
    from tests.actions import ContractorActions

    form = resident.open_form().get_data(as_text=True)
    panel = form[form.index('id="call-now"') :]
    assert "救援正在赶来" not in panel and "提交后将作为紧急工单发出" in panel
    number = _declare(
        resident, "电梯停了，里面有人", "trapped", lift=str(lifts["1号梯"])
    )
    track = resident.client.get(f"/t/{number}").get_data(as_text=True)
    card = track[track.index('id="call-now"') :].split("</section>")[0]
    assert "救援正在赶来" not in card and "正在短信提醒" in card
    contractor = ContractorActions(app.test_client(), CONTRACTOR_PHONE)
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    track = resident.client.get(f"/t/{number}").get_data(as_text=True)
    card = track[track.index('id="call-now"') :].split("</section>")[0]
    with app.app_context():
        ticket = find_ticket(number)
        company = ticket.contractor.name
    assert f"{company}已于" in card and "接单，须在" in card
    assert "正在短信提醒" not in card


def test_a_flood_says_what_to_keep_away_from_and_puts_the_community_first(
    app, resident, lifts
):
    # For a burst pipe the card sent people to 119, 110 and 120 first, with no word
    # on water and power (outside tester); the property office can shut it off.
    form = resident.open_form().get_data(as_text=True)
    assert 'id="flood-advice"' in form  # shown by CSS once the chip is checked
    number = _declare(resident, "大堂水管爆了，水一直往外喷", "flood")
    card = _call_now_of(resident.client, number)
    card = card[: card.index("</section>")]
    assert "远离水边的插座、开关和电器" in card and "关闭总阀" in card
    first = re.search(r'href="tel:([^"]+)"', card).group(1)
    assert first == "075588886666"  # the community's service line
    assert "tel:119" in card


def test_the_privacy_notice_says_the_company_sees_the_number_when_it_calls(
    resident,
):
    # It said the company never sees the number, and its call button dials it
    # (outside tester): the number is in the company's call log like any caller's.
    form = resident.open_form().get_data(as_text=True)
    notice = form[form.index('id="privacy-notice"') :].split("</details>")[0]
    assert "维修单位看不到您的号码" not in notice
    assert "您的号码会像普通来电一样显示在其手机上" in notice


def _job_page(app, client, number: str) -> str:
    from dispatch.assignment.routes import current_assignment
    from dispatch.contractor.tokens import job_token

    with app.app_context():
        assignment = current_assignment(find_ticket(number))
        job = f"/j/{job_token(assignment.id)}"
    return client.get(job).get_data(as_text=True)


def test_an_entrapment_in_the_words_is_marked_as_one_declared_is(
    app, client, officer, resident
):
    # Outside tester: a lift entrapment written in words, with no chip, had no
    # 有人被困 banner on the contractor's page and no danger badge on the board.
    number = resident.report(description="电梯困人了，里面有个老人出不来", spot="")
    page = _job_page(app, client, number)
    assert 'id="declared-danger"' in page and "报修内容提到：有人被困" in page
    assert "居民报告" not in page.split('id="declared-danger"')[1][:200]
    cards = client.get("/board/cards").get_data(as_text=True)
    card = cards.split(f'data-number="{number}"')[1].split("</article>")[0]
    assert "⚠ 有人被困" in card
    calm = resident.report(description="电梯按钮不亮了", spot="")
    assert 'id="declared-danger"' not in _job_page(app, client, calm)


def _file(client, entrance_id: int, **fields):
    from tests.actions import OfficerActions

    page = client.get("/board/new").get_data(as_text=True)
    token = OfficerActions._CSRF.search(page).group(1)
    return client.post(
        "/board/new",
        data={
            "csrf_token": token,
            "entrance": str(entrance_id),
            "channel": "phone",
            "spot": "",
            **fields,
        },
    )


def test_an_officer_filing_for_a_caller_asks_about_danger(app, client, officer):
    # Outside tester: the 帮办 form had no danger choices, so a phoned-in
    # entrapment was neither pinned on the board nor announced to the contractor.
    with app.app_context():
        entrance = db.session.scalar(sa.select(Entrance).order_by(Entrance.id))
    form = client.get("/board/new").get_data(as_text=True)
    assert 'id="file-danger"' in form and "有人被困" in form
    # nothing ticked: the officer asks (tester: a ticked 都没有 answered for her)
    assert "checked" not in form.split('id="file-danger"')[1].split("</div>")[0]
    refused = _file(
        client,
        entrance.id,
        description="来电：电梯停在5楼，里面有人",
        danger="trapped",
        urgency="general",
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "有危险的报修必须按紧急处理" in html
    assert "来电：电梯停在5楼，里面有人" in html  # nothing typed is lost
    filed = _file(
        client, entrance.id, description="来电：电梯停在5楼，里面有人", danger="trapped"
    )
    assert filed.status_code == 303
    number = filed.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.declared_danger == "trapped"
        assert ticket.urgency is Urgency.URGENT
    page = _job_page(app, client, number)
    assert "居民报告：有人被困" in page
    cards = client.get("/board/cards").get_data(as_text=True)
    urgent = cards.split('id="section-urgent"')[1].split("</section>")[0]
    assert re.search(r'data-number="([^"]+)"', urgent).group(1) == number  # pinned
