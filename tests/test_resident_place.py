"""Residents never lose their place: one report is one ticket, the key stays theirs."""

from __future__ import annotations

import socket
import threading

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from repair import lifecycle
from repair.db import db
from repair.models import Ticket
from tests.actions import (
    ContractorActions,
    ResidentActions,
    hidden_fields,
    ticket_number,
)
from tests.factories import find_ticket, jpeg_bytes


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Ticket.id)))


def test_the_same_report_sent_again_from_a_fresh_form_gives_the_same_ticket(
    app, resident, client
):
    first = resident.submit(phone="138 0013 8000")
    # Back: the browser shows the form again with a new submission key and
    # restores what was typed; the resident taps Send again.
    again = resident.submit(phone="138 0013 8000")
    assert again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert _count(app) == 1
    # another report from the same phone is a new ticket
    assert resident.submit(description="楼道灯不亮").status_code == 303
    assert _count(app) == 2


def test_sent_again_without_the_spot_back_lost_it_is_the_same_ticket(app, resident):
    # Back restores the description, not the spot: sent again with the spot
    # empty it is the report already made; with another spot, another report.
    first = resident.submit(description="扶手松动", spot="3楼楼梯间")
    again = resident.submit(description="扶手松动", spot="")
    assert again.headers["Location"] == first.headers["Location"]
    assert _count(app) == 1
    assert resident.submit(description="扶手松动", spot="5楼楼梯间").status_code == 303
    assert _count(app) == 2


def test_the_same_words_from_another_browser_are_another_report(app, resident):
    resident.submit()
    ResidentActions(app.test_client(), resident.code).submit()
    assert _count(app) == 2


def test_the_key_survives_the_progress_button_and_the_language_toggle(
    app, resident, client
):
    number = resident.report()
    contractor = ContractorActions(app.test_client(), "+8613800000001")
    with app.app_context():
        link = contractor.link()
    contractor.tap(link, "accept")
    contractor.complete(link, worker_name="王师傅")
    # the completion photo says what it shows (tester: unlabelled photos)
    own = client.get(f"/t/{number}").get_data(as_text=True)
    labelled = own.split('id="completion"')[1].split('id="completion-photos"')[0]
    assert "维修完成后的照片：" in labelled
    received = client.get(f"/t/{number}/received").get_data(as_text=True)
    button = received.split('id="track-link" href="')[1].split('"')[0]
    assert "k=" not in button  # the key is not shown where others see it
    with app.app_context():
        key = db.session.scalar(
            sa.select(Ticket.resident_key).where(Ticket.number == number)
        )
    for path in (button, f"/t/{number}?lang=en", f"/t/{number}?lang=zh_CN"):
        page = client.get(path).get_data(as_text=True)
        assert f'name="k" type="hidden" value="{key}"' in page, path
    # a private link opened in another browser is remembered there too
    other = app.test_client()
    other.get(f"/t/{number}?k={key}")
    toggled = other.get(f"/t/{number}?lang=en").get_data(as_text=True)
    assert f'value="{key}"' in toggled
    assert ticket_number(toggled) == number


def test_the_tracking_page_says_what_happens_next_and_when(app, resident, client):
    with freeze_time("2026-11-22 01:30:00"):  # 09:30 in Shanghai
        urgent = resident.report(description="楼道里有煤气味", spot="", danger="gas")
        general = resident.report(description="楼道灯不亮", spot="")
        urgent_page = client.get(f"/t/{urgent}").get_data(as_text=True)
        general_page = client.get(f"/t/{general}").get_data(as_text=True)
        public_page = app.test_client().get(f"/t/{urgent}").get_data(as_text=True)
    # Nobody promises the resident a call: 10:00 is when the company must take the
    # job (outside testers: the visitor's page said so, then the reporter's did).
    for page in (urgent_page, public_page):
        assert "维保单位须在 10:00 前响应，11:30 前到场" in page
        assert "前联系" not in page
    assert "维保单位将在 11-23 09:30 前到场处理" in general_page
    for page in (urgent_page, general_page):
        assert 'id="auto-refresh" data-seconds="60" hidden' in page
        assert (
            "autoRefresh" in page
        )  # the script that reloads, unless the resident is giving
        assert 'href="tel:075588886666"' in page  # the community's service line


def test_a_closed_ticket_stops_refreshing(app, resident, client):
    number = resident.report()
    with app.app_context():
        ticket = find_ticket(number)
        lifecycle.transition(ticket, "reject", lifecycle.Actor.system())
        db.session.commit()
    page = client.get(f"/t/{number}").get_data(as_text=True)
    assert "auto-refresh" not in page and "autoRefresh" not in page
    assert 'id="what-next"' not in page


@pytest.fixture
def limited_resident(settings, entrance_code):
    """A resident whose connection may send 2 reports an hour."""
    from repair import create_app

    app = create_app(
        {**settings, "RATELIMIT_ENABLED": True, "SUBMIT_RATE_LIMIT": "2 per hour"}
    )
    return ResidentActions(app.test_client(), entrance_code)


def test_only_accepted_reports_count_and_the_limit_keeps_what_was_typed(
    limited_resident,
):
    with freeze_time("2026-11-22 02:00:00"):  # 10:00 in Shanghai
        _limited_story(limited_resident)


def _limited_story(resident) -> None:
    for _ in range(5):  # mistakes do not count against the limit
        assert resident.submit(description="  ").status_code == 422
    for _ in range(3):  # nor does switching the form's language, all kept
        switched = resident.submit(description="楼道灯不亮", relabel="1")
        assert switched.status_code == 200
        assert "楼道灯不亮" in switched.get_data(as_text=True)
    assert resident.submit(description="楼道灯不亮").status_code == 303
    assert resident.submit(description="3楼扶手松动").status_code == 303
    refused = resident.submit(description="单元门关不上", name="王阿姨")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "单元门关不上" in html and 'value="王阿姨"' in html
    assert 'id="report-form"' in html
    assert "0755-8888 6666" in html  # the community's number
    # and when to send again (outside tester: "later" said nothing)
    assert "请在 11:00 之后再提交" in html  # an hour after the first


def test_a_report_over_the_limit_keeps_its_photos_and_may_still_switch_language(
    limited_resident,
):
    # Outside tester: the 429 page said "what you typed is kept"; the photo was
    # gone, and the language toggle was refused the same way, photo and all.
    resident = limited_resident
    assert resident.submit(description="楼道灯不亮").status_code == 303
    assert resident.submit(description="3楼扶手松动").status_code == 303
    refused = resident.submit(
        description="秋千坏了", photos=[(jpeg_bytes(color=(200, 40, 40)), "a.jpg")]
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429
    resident.last_form = hidden_fields(html)
    assert resident.last_form["kept_photos"]  # carried, and shown
    assert 'id="kept-thumbs"' in html and "已上传 1 张照片。" in html
    switched = resident.submit(
        description="秋千坏了", relabel="1", reuse_form=True, photos=[]
    )
    assert switched.status_code == 200
    assert hidden_fields(switched.get_data(as_text=True))["kept_photos"]


@pytest.fixture
def crowded_resident(settings, entrance_code):
    """Residents behind one address (a block's Wi-Fi, a carrier's NAT): 2 reports
    an hour, and 2 more that declare a danger."""
    from repair import create_app

    app = create_app(
        {
            **settings,
            "RATELIMIT_ENABLED": True,
            "SUBMIT_RATE_LIMIT": "2 per hour",
            "SUBMIT_DANGER_RATE_LIMIT": "2 per hour",
        }
    )
    return ResidentActions(app.test_client(), entrance_code)


def test_a_danger_report_is_not_held_back_by_the_addresss_ordinary_reports(
    crowded_resident,
):
    # An outside tester, after a morning of reports from one address, tapped
    # "someone is trapped": refused as too many, no ticket, nobody alerted, and
    # the red box under the refusal still said it was being sent as urgent.
    resident = crowded_resident
    assert resident.submit(description="楼道灯不亮").status_code == 303
    assert resident.submit(description="3楼扶手松动").status_code == 303
    assert resident.submit(description="单元门关不上").status_code == 429
    for _ in range(2):
        trapped = resident.submit(
            description="电梯停在5楼和6楼中间，里面有个老人",
            danger="trapped",
            photos=[],
        )
        assert trapped.status_code == 303
    # its own budget spent too: refused, and the page says it was not sent
    refused = resident.submit(description="闻到煤气味", danger="gas", photos=[])
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "报修未能发送：请立即拨打上面的电话。" in html
    assert "提交后将作为紧急工单发出" not in html


def test_danger_reports_at_once_from_one_address_get_its_budget_and_no_more(
    crowded_resident,
):
    # Four phones behind one address tap "someone is trapped" at the same moment,
    # its ordinary reports spent: the danger budget (2) is counted atomically,
    # so two are filed and two are told to call, none lost in between, none 5xx.
    app = crowded_resident.client.application
    code = crowded_resident.code
    for words in ("楼道灯不亮", "3楼扶手松动"):
        assert crowded_resident.submit(description=words).status_code == 303
    residents = [ResidentActions(app.test_client(), code) for _ in range(4)]
    for resident in residents:
        resident.open_form()
    statuses: list[int] = []
    start = threading.Barrier(len(residents))

    def tap(resident) -> None:
        start.wait()
        response = resident.submit(
            description="电梯停在5楼和6楼中间，里面有个老人",
            danger="trapped",
            photos=[],
            reuse_form=True,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=tap, args=(r,)) for r in residents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303, 303, 429, 429]


def test_a_danger_report_is_filed_while_the_rate_limit_store_is_away(
    settings, entrance_code
):
    # Redis (where the limits are counted) is down: the ordinary reports are
    # counted in the process's memory meanwhile, and a report that says someone
    # is in danger is filed, not turned away because Redis is.
    from repair import create_app

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    app = create_app(
        {
            **settings,
            "REDIS_URL": f"redis://127.0.0.1:{dead}/0",
            "REDIS_TIMEOUT": "0.2s",
            "RATELIMIT_ENABLED": True,
            "SUBMIT_RATE_LIMIT": "2 per hour",
            "SUBMIT_DANGER_RATE_LIMIT": "2 per hour",
        }
    )
    resident = ResidentActions(app.test_client(), entrance_code)
    assert resident.submit(description="楼道灯不亮").status_code == 303
    assert resident.submit(description="3楼扶手松动").status_code == 303
    assert resident.submit(description="单元门关不上").status_code == 429
    trapped = resident.submit(
        description="电梯停在5楼和6楼中间，里面有个老人", danger="trapped", photos=[]
    )
    assert trapped.status_code == 303
    number = ticket_number(
        resident.client.get(trapped.headers["Location"]).get_data(as_text=True)
    )
    with app.app_context():
        assert find_ticket(number).declared_danger == "trapped"
