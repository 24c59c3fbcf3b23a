"""The repair officer's board: access, the queue, and every action on a ticket."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.models import Assignment, OutboxMessage
from repair.db import db, utcnow
from repair.models import (
    Contractor,
    Entrance,
    Ticket,
    TicketStatus,
    Urgency,
)
from tests.actions import (
    ContractorActions,
    OfficerActions,
    ResidentActions,
    make_other_community,
)
from tests.factories import find_ticket

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"


def test_anonymous_visitors_are_sent_to_the_login(client, demo):
    for path in ("/board", "/board/cards", "/board/new", "/board/t/YG-20261122-0001"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/board/login" in response.headers["Location"]


def test_wrong_password_is_refused_with_one_message(app, client, demo):
    officer = OfficerActions(client)
    for username in ("officer", "nobody"):
        response = officer.log_in(username, "wrong password")
        assert response.status_code == 200
        assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/board").status_code == 302


def test_a_fresh_report_waits_in_needs_triage(app, client, officer, resident):
    number = resident.report(description="2楼楼道灯不亮了")
    urgent = resident.report(description="电梯困人了")
    page = client.get("/board").get_data(as_text=True)
    triage = page.split('id="section-triage"')[1].split("</section>")[0]
    assert number in triage and urgent not in triage
    # the classifier's urgent ticket is in "urgent" at once, marked unconfirmed
    section = page.split('id="section-urgent"')[1].split("</section>")[0]
    assert urgent in section and re.search(r'class="count[^"]*">1<', section)
    assert "系统：紧急（待确认）" in section
    assert "困" in section  # the classifier's reasons
    cards = client.get("/board/cards").get_data(as_text=True)
    assert number in cards and 'id="sections"' in cards and "<html" not in cards


def test_a_card_says_what_the_system_suggests_only_when_it_suggests_something(
    app, client, officer, resident
):
    # An outside tester saw "系统建议：" with nothing after it on a tablet: the
    # classifier found no words to go by in "麻烦处理一下".
    vague = resident.report(description="麻烦处理一下", category="", spot="")
    lamp = resident.report(description="2楼楼道灯不亮了")
    triage = _sections(client)["triage"]
    cards = {
        number: card.split("</article>")[0]
        for card in triage.split('data-number="')[1:]
        for number in [card.split('"', 1)[0]]
    }
    assert 'class="reasons"' not in cards[vague]
    assert 'class="reasons"' in cards[lamp]
    page = client.get(f"/board/t/{vague}").get_data(as_text=True)
    # the example number of a duplicate is the officer's own kind, not BX-
    assert f'placeholder="{vague.rsplit("-", 1)[0]}-0001"' in page


def test_declared_dangers_lead_the_urgent_section_with_a_badge_that_stays(
    app, client, officer, resident
):
    # Outside tester on a tablet: a dripping pipe sat above a declared smell of
    # gas, and sparking wires came ninth of nine with no mark of danger; once
    # the officer confirmed it, a trapped report's card no longer said so.
    pipe = resident.report(description="水管漏水很严重，到处是水")
    gas = resident.report(description="楼道里有很浓的煤气味", danger="gas", spot="")
    trapped = resident.report(description="有人被困", danger="trapped", spot="")
    urgent = _sections(client)["urgent"]
    order = [urgent.index(f'data-number="{n}"') for n in (trapped, gas, pipe)]
    assert order == sorted(order)
    card = urgent.split(f'data-number="{gas}"')[1].split("</article>")[0]
    assert "danger-badge" in card and "燃气" in card
    officer.act(trapped, "triage", urgency="urgent", category="lift")
    card = _sections(client)["urgent"].split(f'data-number="{trapped}"')[1]
    assert "有人被困" in card.split("</article>")[0].split("danger-badge")[1]


def test_someone_trapped_in_the_words_alone_leads_the_section_too(
    app, client, officer, resident
):
    # This session's outside tester: 电梯困人了，里面有个老人出不来 with no chip
    # carried ⚠ 有人被困 but sat last in 紧急, below gas and a flood.
    gas = resident.report(description="楼道里有很浓的煤气味", danger="gas", spot="")
    flood = resident.report(description="地下室水管爆裂，水淹了", danger="flood")
    words = resident.report(description="电梯困人了，里面有个老人出不来", spot="")
    with app.app_context():
        assert find_ticket(words).found_danger == "trapped"
        assert find_ticket(words).declared_danger is None
    urgent = _sections(client)["urgent"]
    order = [urgent.index(f'data-number="{n}"') for n in (words, gas, flood)]
    assert order[0] == min(order)
    # an officer who judges it general takes the danger away with the urgency
    officer.act(words, "triage", urgency="general", category="lift")
    with app.app_context():
        assert find_ticket(words).found_danger is None


def _sections(client, query: str = "") -> dict[str, str]:
    """Returns the HTML of each board section present, by name."""
    page = client.get(f"/board/cards?{query}").get_data(as_text=True)
    return {
        part.split('"', 1)[0]: part.split("</section>")[0]
        for part in page.split('id="section-')[1:]
    }


def test_each_ticket_waits_in_the_section_of_its_next_deadline(
    app, client, officer, resident
):
    with freeze_time(utcnow() + timedelta(seconds=1)) as clock:
        # lifts out of service, nobody trapped: the 30-minute contact clock
        lift = resident.report(description="电梯坏了，停在5楼不动了")
        clock.tick(timedelta(minutes=1))
        lamp = resident.report(description="楼道灯不亮")
        clock.tick(timedelta(minutes=1))
        later_lift = resident.report(description="2号电梯也坏了，停着不动")
        for number in (lift, later_lift):
            officer.act(number, "triage", urgency="urgent", category="lift")
        officer.act(lamp, "triage", urgency="general", category="electrical")
        sections = _sections(client)
        urgent = sections["urgent"]
        assert lift in urgent and later_lift in urgent
        assert urgent.index(lift) < urgent.index(later_lift)  # sooner deadline first
        assert lamp in sections["general"] and not sections["breached"].count("YG-")

        clock.tick(timedelta(minutes=29))  # the first lift's contact deadline passed
        sections = _sections(client)
        assert lift in sections["breached"] and lift not in sections["urgent"]
        assert later_lift in sections["urgent"] and lamp in sections["general"]

        clock.tick(timedelta(hours=24))
        sections = _sections(client)
        assert all(n in sections["breached"] for n in (lift, later_lift, lamp))


def test_officer_confirms_urgency_and_the_deadlines_follow(app, officer, resident):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        before = find_ticket(number).on_site_due_at
    response = officer.act(number, "triage", urgency="urgent", category="electrical")
    assert response.status_code == 303
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.urgency is Urgency.URGENT and ticket.urgency_confirmed_at
        assert ticket.category.slug == "electrical"
        assert ticket.contact_due_at is not None and ticket.on_site_due_at < before
        event = ticket.events[-1]
        assert (event.action, event.actor_type.value, event.channel.value) == (
            "urgency_confirmed",
            "officer",
            "board",
        )
        assert event.actor_name == "李专干"
        told = db.session.scalars(
            sa.select(OutboxMessage.body).where(OutboxMessage.to_phone == PRIMARY)
        ).all()
        assert any("已改为紧急" in body for body in told)
    # the timelines say what was confirmed: how urgent, not "the problem's type"
    for page in (f"/board/t/{number}", f"/t/{number}"):
        html = officer.client.get(page).get_data(as_text=True)
        assert "维修专干已确认紧急程度" in html and "问题类型" not in html


def test_officer_reassigns_and_the_old_link_dies(app, client, officer, resident):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        old_link = ContractorActions(client, PRIMARY).link()
        backup = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        )
    officer.act(number, "assign", contractor=str(backup.id))
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor.phone == BACKUP
        roles = db.session.scalars(
            sa.select(Assignment.role).where(Assignment.ticket_id == ticket.id)
        ).all()
        assert roles == ["primary", "manual"]
        assert ContractorActions(client, BACKUP).link()
    assert client.get(old_link).status_code == 410


def test_the_ticket_page_calls_the_contractor_who_has_the_job(
    app, client, officer, resident
):
    # Outside tester: chasing a late job, the officer had to look the company's
    # number up elsewhere.
    number = resident.report(description="楼道灯不亮")
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    held = page.split('id="ticket-contractor">')[1].split("</dd>")[0]
    assert f'href="tel:{PRIMARY}"' in held and f"拨打 {PRIMARY}" in held
    with app.app_context():
        backup = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        )
    officer.act(number, "assign", contractor=str(backup.id))
    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    held = page.split('id="ticket-contractor">')[1].split("</dd>")[0]
    assert f'href="tel:{BACKUP}"' in held and PRIMARY not in held


def test_a_posted_contractor_or_category_that_is_not_offered_changes_nothing(
    app, client, officer, resident
):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        before = find_ticket(number)
        contractor_id, category_id = before.contractor_id, before.category_id
        inactive = Contractor(name="停用公司", phone="+8613800000099", is_active=False)
        db.session.add(inactive)
        db.session.commit()
        inactive_id = inactive.id
    for value in ("abc", "²", "", str(inactive_id), "99999"):
        response = officer.act(number, "assign", contractor=value)
        assert response.status_code == 303, value  # back to the ticket, not a 500
    response = officer.act(number, "triage", urgency="urgent", category="nonsense")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "未做任何更改。" in page  # "Nothing was changed."
    with app.app_context():
        ticket = find_ticket(number)
        assert (ticket.contractor_id, ticket.category_id) == (
            contractor_id,
            category_id,
        )
        assert ticket.urgency_confirmed_at is None


def test_internal_notes_stay_internal(app, client, officer, resident):
    number = resident.report()
    officer.act(number, "note", note="已电话联系居民，晚上8点后在家")
    assert "晚上8点后在家" in client.get(f"/board/t/{number}").get_data(as_text=True)
    assert "晚上8点后在家" not in client.get(f"/t/{number}").get_data(as_text=True)


def test_reject_with_a_reason(app, client, officer, resident):
    number = resident.report(description="我家里的灯坏了")
    assert officer.act(number, "reject", reason="不属于公共区域").status_code == 303
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.REJECTED and ticket.closed_at
        assert ticket.events[-1].note == "不属于公共区域"
    assert officer.act(number, "reject", reason="again").status_code == 303
    with app.app_context():
        assert [e.action for e in find_ticket(number).events].count("reject") == 1


def test_searching_finds_tickets_no_longer_on_the_board(app, client, officer, resident):
    rejected = resident.report(description="我家里的灯坏了")
    working = resident.report(description="楼道灯不亮")
    officer.act(rejected, "reject", reason="不属于公共区域")
    board = client.get("/board").get_data(as_text=True)
    assert 'id="section-ended"' not in board
    assert rejected not in board.split('id="sections"')[1]
    assert 'placeholder="YG-' in board  # an example number of the officer's own

    by_number = _sections(client, f"q={rejected.lower()}")
    assert rejected in by_number["ended"] and working not in str(by_number)
    by_status = _sections(client, "status=rejected")
    assert rejected in by_status["ended"] and working not in str(by_status)
    dispatched = _sections(client, "status=dispatched")
    assert "ended" not in dispatched and working in dispatched["triage"]
    assert rejected not in str(dispatched)


def test_duplicates_are_linked_both_ways(app, client, officer, resident):
    first = resident.report(description="3栋门口路灯不亮")
    second = resident.report(description="路灯坏了")
    officer.act(second, "duplicate", original=first)
    with app.app_context():
        dup, original = find_ticket(second), find_ticket(first)
        assert (
            dup.status is TicketStatus.DUPLICATE and dup.duplicate_of_id == original.id
        )
        assert original.events[-1].action == "duplicate_linked"
    assert second in client.get(f"/board/t/{first}").get_data(as_text=True)
    assert first in client.get(f"/board/t/{second}").get_data(as_text=True)


def test_close_and_reopen(app, client, officer, resident):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    officer.act(number, "close")
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.CLOSED
    officer.act(number, "reopen", note="居民反映灯又不亮了")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.DISPATCHED
        assert ticket.completed_at is None and ticket.accepted_at is None
        reopened = next(e for e in ticket.events if e.action == "reopen")
        assert ticket.on_site_due_at > reopened.at  # the clock starts again
        assert ticket.contractor.phone == PRIMARY


def test_officer_files_a_ticket_for_a_caller(app, client, officer, demo):
    with app.app_context():
        entrance = db.session.scalar(sa.select(Entrance).limit(1))
    page = client.get("/board/new").get_data(as_text=True)
    token = OfficerActions._CSRF.search(page).group(1)
    response = client.post(
        "/board/new",
        data={
            "csrf_token": token,
            "entrance": str(entrance.id),
            "channel": "phone",
            "spot": "1楼大堂",
            "description": "老人来电：大堂消防栓箱门掉了",
            "phone": "13700001111",
        },
    )
    assert response.status_code == 303
    number = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.channel.value == "phone"
        assert ticket.events[0].actor_type.value == "officer"
        assert ticket.status is TicketStatus.DISPATCHED  # dispatched like any report
        assert ticket.photos == []
        # Outside tester: the caller (82, by phone) heard nothing of her number
        # until a contractor accepted. Now at once, with her own page.
        [filed] = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "resident_filed")
        ).all()
        assert filed.to_phone == "+8613700001111" and number in filed.body
        assert "/j/" in filed.body
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请把单号告诉来电居民" in page
    resident = ResidentActions(app.test_client(), entrance.code)
    resident.report(description="楼道灯不亮", phone="13700002222")
    with app.app_context():  # a resident at the sticker has the page: no such SMS
        assert (
            db.session.scalar(
                sa.select(sa.func.count(OutboxMessage.id)).where(
                    OutboxMessage.template == "resident_filed"
                )
            )
            == 1
        )


def test_filing_without_a_description_keeps_the_form(app, client, officer, demo):
    page = client.get("/board/new").get_data(as_text=True)
    token = OfficerActions._CSRF.search(page).group(1)
    response = client.post(
        "/board/new", data={"csrf_token": token, "spot": "2楼", "description": ""}
    )
    assert response.status_code == 422
    assert 'value="2楼"' in response.get_data(as_text=True)


def test_officer_of_another_community_sees_nothing_of_ours(
    app, client, officer, resident
):
    number = resident.report(description="扶手松动")
    other_place = make_other_community(app)
    code, username = other_place.code, other_place.username
    theirs = ResidentActions(client, code).report(description="绿城的路灯不亮")
    client.post("/board/logout", data={"csrf_token": officer.csrf("/board")})
    other = OfficerActions(app.test_client())
    assert other.log_in(username, "another password").status_code == 302
    assert other.client.get(f"/board/t/{number}").status_code == 404
    assert number not in other.client.get("/board").get_data(as_text=True)
    assert number not in other.client.get("/board/cards").get_data(as_text=True)
    searched = other.client.get(f"/board?q={number}").get_data(as_text=True)
    assert number not in searched.split('id="sections"')[1]
    assert theirs in other.client.get("/board").get_data(as_text=True)
    # nor can they act on it by URL
    token = other.csrf("/board")
    assert (
        other.client.post(
            f"/board/t/{number}/reject", data={"csrf_token": token, "reason": "x"}
        ).status_code
        == 404
    )


def test_forged_csrf_is_rejected(app, client, officer, resident):
    number = resident.report()
    response = client.post(
        f"/board/t/{number}/reject", data={"csrf_token": "forged", "reason": "spam"}
    )
    assert response.status_code == 400
    with app.app_context():
        assert find_ticket(number).status is TicketStatus.DISPATCHED


def test_login_is_throttled(settings, demo):
    from repair import create_app

    app = create_app({**settings, "RATELIMIT_ENABLED": True})
    officer = OfficerActions(app.test_client())
    # A different name each time: the per-account lockout is not what is tested.
    statuses = [officer.log_in(f"user{n}", "wrong").status_code for n in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[-1] == 429


def test_users_commands(app):
    runner = app.test_cli_runner()
    from repair.seed import seed_demo

    with app.app_context():
        seed_demo(app.instance_path)
    created = runner.invoke(
        args=[
            "users",
            "create",
            "zhang",
            "--role",
            "supervisor",
            "--community",
            "yangguang",
            "--password-stdin",
        ],
        input="a long enough secret\n",
    )
    assert created.exit_code == 0, created.output
    assert (
        "zhang\tsupervisor\tyangguang" in runner.invoke(args=["users", "list"]).output
    )
    short = runner.invoke(
        args=["users", "reset-password", "zhang", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "8 characters" in short.output
    assert (
        runner.invoke(
            args=["users", "create", "li", "--password-stdin"], input="long enough pw\n"
        ).exit_code
        != 0
    )  # an officer needs a community
    officer = OfficerActions(app.test_client())
    assert officer.log_in("zhang", "a long enough secret").status_code == 302


def _file(client, **fields):
    page = client.get("/board/new").get_data(as_text=True)
    token = OfficerActions._CSRF.search(page).group(1)
    data = {"csrf_token": token, "channel": "phone", "spot": "5楼", **fields}
    return client.post("/board/new", data=data)


def test_filing_requires_a_chosen_entrance(app, client, officer, demo):
    page = client.get("/board/new").get_data(as_text=True)
    entrance = page.split('id="entrance"')[1].split("</select>")[0]
    assert "selected" not in entrance  # no entrance is chosen for the officer
    response = _file(client, description="老人来电：电梯不动了")
    assert response.status_code == 422
    # not 楼栋单元: the list holds common areas too (outside tester)
    assert "请选择位置：楼栋单元或公共区域。" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


@pytest.mark.parametrize("urgency", ["", "urgent"])
def test_the_filing_officer_sets_urgency_and_gets_no_sms_about_it(
    app, client, officer, demo, urgency
):
    from repair.models import Role, User

    with app.app_context():
        entrance_id = db.session.scalar(sa.select(Entrance.id).limit(1))
        filer = db.session.scalar(sa.select(User).where(User.username == "officer"))
        assert filer.phone
        colleague = User(
            username="officer2",
            role=Role.OFFICER,
            phone="+8613800000019",
            password_hash="x",
            communities=list(filer.communities),
        )
        db.session.add(colleague)
        db.session.commit()
        filer_phone = filer.phone
    response = _file(
        client,
        entrance=str(entrance_id),
        description="老人来电：电梯困人了",
        urgency=urgency,
    )
    assert response.status_code == 303
    number = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.urgency is Urgency.URGENT
        assert (ticket.urgency_confirmed_at is not None) == (urgency == "urgent")
        sent_to = set(
            db.session.scalars(
                sa.select(OutboxMessage.to_phone).where(
                    OutboxMessage.template == "officer_new_urgent"
                )
            )
        )
        assert filer_phone not in sent_to
        assert "+8613800000019" in sent_to  # colleagues still hear


def test_merging_never_makes_a_loop_nor_merges_into_an_ended_ticket(
    app, client, officer, resident
):
    """Found by the outside tester: A into B, then B into A, left both problems
    unattended (each a duplicate of the other, no clock on either)."""
    first = resident.report(description="3栋门口路灯不亮")
    second = resident.report(description="路灯坏了")
    third = resident.report(description="门口的灯不亮")
    rejected = resident.report(description="我家灯泡坏了")
    officer.act(rejected, "reject", reason="住户家中的灯由住户自行更换")
    assert officer.act(first, "duplicate", original=second).status_code == 303
    for number, original in ((second, first), (third, first), (third, rejected)):
        response = officer.act(number, "duplicate", original=original)
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "未合并" in page
    with app.app_context():
        assert find_ticket(first).status is TicketStatus.DUPLICATE
        assert find_ticket(second).status is not TicketStatus.DUPLICATE
        assert find_ticket(third).status is not TicketStatus.DUPLICATE


def test_two_officers_merging_two_tickets_into_each_other_at_once(
    app, officer, resident
):
    """Threads: both rows are locked in one order, so the second merge sees the
    first and is refused (on PostgreSQL separate connections race for real)."""
    import threading

    from tests.actions import OfficerActions
    from tests.conftest import OFFICER_PASSWORD

    first = resident.report(description="3栋门口路灯不亮")
    second = resident.report(description="路灯坏了")
    officers = []
    for _ in range(2):
        other = OfficerActions(app.test_client())
        assert other.log_in("officer", OFFICER_PASSWORD).status_code == 302
        officers.append(other)
    posts = [
        (officers[0], first, second, officers[0].csrf(f"/board/t/{first}")),
        (officers[1], second, first, officers[1].csrf(f"/board/t/{second}")),
    ]
    barrier = threading.Barrier(2)

    def merge(actions, number, original, token):
        barrier.wait(timeout=30)
        actions.client.post(
            f"/board/t/{number}/duplicate",
            data={"csrf_token": token, "original": original},
        )

    threads = [threading.Thread(target=merge, args=post) for post in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        statuses = [find_ticket(n).status for n in (first, second)]
        assert statuses.count(TicketStatus.DUPLICATE) == 1, statuses


def test_the_sms_table_names_a_follower_in_words(app, client, officer, resident):
    """The outside tester saw the raw key "follower" in both languages."""
    first = resident.report(description="3栋门口路灯不亮", phone="13900000001")
    second = resident.report(description="路灯坏了", phone="13900000002")
    officer.act(second, "duplicate", original=first)
    with app.app_context():
        contractor = ContractorActions(client, PRIMARY)
        link = contractor.links()[-1]  # the first report's job (the oldest text)
    assert contractor.tap(link, "accept").status_code == 303
    page = client.get(f"/board/t/{first}").get_data(as_text=True)
    assert "关注此报修的居民" in page and ">follower<" not in page
    english = client.get(f"/board/t/{first}?lang=en").get_data(as_text=True)
    assert "Resident following the report" in english
