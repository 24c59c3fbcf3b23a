"""Sessions, headers, redirects, lockout, job links, private reports and bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.contractor.tokens import job_token
from dispatch.models import Assignment
from repair import create_app
from repair.db import db, utcnow
from repair.models import Photo, Ticket
from tests.actions import ContractorActions, OfficerActions
from tests.conftest import OFFICER_PASSWORD

PRIMARY = "+8613800000001"


def _ticket(number: str) -> Ticket:
    db.session.expire_all()
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def _photo_links(html: str) -> list[str]:
    return [
        link.replace("&amp;", "&") for link in re.findall(r'"(/photos/[^"]+)"', html)
    ]


# -- 7: a ticket's report is private ------------------------------------------


def test_tracking_without_the_key_shows_only_state_category_place_and_dates(
    app, client, resident
):
    number = resident.report(description="扶手松动，晃得厉害", spot="3楼楼梯间扶手")
    with app.app_context():
        key = _ticket(number).resident_key
    # another browser: the reporter's own keeps the key in its session
    public = app.test_client().get(f"/t/{number}").get_data(as_text=True)
    assert "阳光花园 3栋 2单元" in public  # the place label
    assert "扶手松动" not in public and "3楼楼梯间扶手" not in public
    assert "/photos/" not in public
    private = client.get(f"/t/{number}?k={key}").get_data(as_text=True)
    assert "扶手松动" in private and "3楼楼梯间扶手" in private
    assert _photo_links(private)


def test_the_completion_record_and_worker_are_shown_only_with_the_key(
    app, client, resident
):
    number = resident.report()
    contractor = ContractorActions(client, PRIMARY)
    with app.app_context():
        link = contractor.link()
        key = _ticket(number).resident_key
    contractor.tap(link, "accept")
    assert (
        contractor.complete(link, worker_name="王师傅", note="换了螺丝").status_code
        == 303
    )
    public = app.test_client().get(f"/t/{number}").get_data(as_text=True)
    assert "王师傅" not in public and "换了螺丝" not in public
    assert 'id="completion"' not in public
    private = client.get(f"/t/{number}?k={key}").get_data(as_text=True)
    assert "王师傅" in private and "换了螺丝" in private


def test_photos_need_a_signed_unexpired_link(app, client, resident, jobs):
    number = resident.report()
    jobs.run_due()  # the display copy and thumbnail are made after the commit
    with app.app_context():
        key = _ticket(number).resident_key
        sha = db.session.scalar(sa.select(Photo.sha256))
    assert client.get(f"/photos/{sha}/display.jpg").status_code == 404
    assert client.get(f"/photos/{sha}/thumb.jpg").status_code == 404
    links = _photo_links(client.get(f"/t/{number}?k={key}").get_data(as_text=True))
    response = client.get(links[0])
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"].startswith("private")
    forged = re.sub(r"s=[0-9a-f]+", "s=" + "0" * 32, links[0])
    assert client.get(forged).status_code == 404
    other_variant = links[0].replace("thumb.jpg", "display.jpg")
    assert other_variant == links[0] or client.get(other_variant).status_code == 404
    with freeze_time(utcnow() + timedelta(hours=4)):
        assert client.get(links[0]).status_code == 404


def test_officers_and_the_assigned_contractor_get_working_photo_links(
    app, client, officer, resident
):
    number = resident.report()
    board = client.get(f"/board/t/{number}").get_data(as_text=True)
    assert all(client.get(link).status_code == 200 for link in _photo_links(board))
    assert _photo_links(board)
    contractor = ContractorActions(app.test_client(), PRIMARY)
    with app.app_context():
        link = contractor.link()
    job = contractor.client.get(link).get_data(as_text=True)
    assert _photo_links(job)
    assert all(contractor.client.get(u).status_code == 200 for u in _photo_links(job))


def test_the_me_too_pages_show_no_report_text_or_photos(app, client, resident):
    number = resident.report(description="扶手松动，晃得厉害", spot="3楼楼梯间扶手")
    follow = client.get(f"/t/{number}/follow").get_data(as_text=True)
    assert "扶手松动" not in follow and "/photos/" not in follow
    landing = client.get(f"/q/{resident.code}").get_data(as_text=True)
    assert number not in landing or "/photos/" not in landing


# -- 9: job links end with their assignment, and at the latest after a while -----


def _first_link(app) -> tuple[str, int]:
    with app.app_context():
        assignment = db.session.scalar(sa.select(Assignment).order_by(Assignment.id))
        return f"/j/{job_token(assignment.id)}", assignment.id


def test_a_job_link_stops_when_the_officer_withdraws_the_job(
    app, client, officer, resident
):
    number = resident.report()
    link, _ = _first_link(app)
    assert client.get(link).status_code == 200
    officer.act(number, "reject", reason="不属于公共区域")
    page = client.get(link)
    assert page.status_code == 410
    assert "已驳回工单" in page.get_data(as_text=True)  # says what happened


def test_a_job_link_expires_after_the_configured_time_even_while_open(
    app, client, resident
):
    resident.report()
    link, _ = _first_link(app)
    limit = app.config["JOB_LINK_MAX_AGE"]
    assert limit == timedelta(days=30)
    with freeze_time(utcnow() + limit - timedelta(hours=1)):
        assert client.get(link).status_code == 200
    with freeze_time(utcnow() + limit + timedelta(minutes=1)):
        page = client.get(link)
        assert page.status_code == 410
        assert "工单链接只在限定时间内有效" in page.get_data(as_text=True)


def test_only_the_exact_token_opens_a_job(app, client, resident):
    resident.report()
    link, assignment_id = _first_link(app)
    head, signature = link.removeprefix("/j/").split("-", 1)
    assert client.get(link).status_code == 200
    for other in (
        f"{head.upper()}-{signature}"
        if head.upper() != head
        else f"0{head}-{signature}",
        f"0{head}-{signature}",
        f"+{head}-{signature}",
        f"{head}-{signature}=",
    ):
        assert client.get(f"/j/{other}").status_code == 404, other


# -- 10: cookies, caching, logout and idle sessions -----------------------------


def _cookie_header(response) -> str:
    return "; ".join(response.headers.getlist("Set-Cookie"))


def test_session_cookie_is_lax_and_http_only(app, client, demo):
    response = OfficerActions(client).log_in("officer", "wrong password")
    cookie = _cookie_header(response)
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers


def test_an_https_public_url_makes_cookies_secure_and_sends_hsts(settings, demo):
    app = create_app({**settings, "PUBLIC_URL": "https://repair.example"})
    client = app.test_client()
    response = client.get("/board/login", base_url="https://repair.example")
    assert "Secure" in _cookie_header(response)
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_private_pages_are_never_cached(app, client, officer, resident):
    number = resident.report()
    with app.app_context():
        key = _ticket(number).resident_key
    link, _ = _first_link(app)
    for path in (f"/t/{number}?k={key}", "/board", f"/board/t/{number}", link):
        assert client.get(path).headers["Cache-Control"] == "private, no-store", path


def test_a_session_copied_before_logout_does_not_work_after_it(app, client, officer):
    stolen = client.get_cookie("session").value
    assert client.get("/board").status_code == 200
    csrf = officer.csrf("/board")
    assert client.post("/board/logout", data={"csrf_token": csrf}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/board")
    assert (
        response.status_code == 302 and "/board/login" in response.headers["Location"]
    )


def test_an_officer_session_ends_after_twelve_idle_hours(settings, demo):
    settings.pop("OFFICER_IDLE_TIMEOUT")
    app = create_app(settings)
    from werkzeug.security import generate_password_hash

    from repair.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "officer"))
        user.password_hash = generate_password_hash(OFFICER_PASSWORD)
        db.session.commit()
    client = app.test_client()
    start = utcnow()
    with freeze_time(start) as clock:
        assert (
            OfficerActions(client).log_in("officer", OFFICER_PASSWORD).status_code
            == 302
        )
        clock.tick(timedelta(hours=11))
        assert client.get("/board").status_code == 200  # activity restarts the clock
        clock.tick(timedelta(hours=11, minutes=59))
        assert client.get("/board").status_code == 200
        clock.tick(timedelta(hours=12, minutes=1))
        assert client.get("/board").status_code == 302


# -- 11: redirects after login ---------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/%09/evil.example/", "/board"),
        ("/%0a/x", "/board"),
        ("//evil.example/", "/board"),
        ("/\\evil.example/", "/board"),
        ("https://evil.example/", "/board"),
        ("%20//evil.example", "/board"),
        ("/board/stats", "/board/stats"),
    ],
)
def test_login_redirects_only_to_this_site(app, client, demo, target, expected):
    from werkzeug.security import generate_password_hash

    from repair.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "officer"))
        user.password_hash = generate_password_hash(OFFICER_PASSWORD)
        db.session.commit()
    page = client.get("/board/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)
    response = client.post(
        f"/board/login?next={target}",
        data={"csrf_token": token, "username": "officer", "password": OFFICER_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


# -- 12: login lockout per account ------------------------------------------------


def test_repeated_failures_lock_the_account_with_back_off(
    app, client, officer, settings
):
    # Counted in this process's memory here, so that the frozen clock moves the
    # lock's expiry too (Redis keeps its own time); the same code counts in Redis.
    local = create_app({**settings, "RATELIMIT_STORAGE_URI": "memory://"})
    attacker = OfficerActions(local.test_client())
    start = utcnow()
    with freeze_time(start) as clock:
        for _ in range(5):
            assert attacker.log_in("officer", "guess").status_code == 200
        locked = attacker.log_in("officer", OFFICER_PASSWORD)
        assert locked.status_code == 429
        assert "登录失败次数过多" in locked.get_data(as_text=True)
        # another account is not locked by these failures
        other = attacker.log_in("supervisor", "guess")
        assert other.status_code == 200
        clock.tick(timedelta(seconds=61))
        assert attacker.log_in("officer", "guess again").status_code == 200
        clock.tick(timedelta(seconds=61))  # the second lock lasts twice as long
        assert attacker.log_in("officer", OFFICER_PASSWORD).status_code == 429
        clock.tick(timedelta(seconds=60))
        assert attacker.log_in("officer", OFFICER_PASSWORD).status_code == 302


# -- 14: search ------------------------------------------------------------------


@pytest.mark.parametrize("query", ["%", "_", "YG-%", "%0001"])
def test_search_treats_percent_and_underscore_literally(
    client, officer, resident, query
):
    resident.report()
    page = client.get("/board/cards", query_string={"q": query}).get_data(as_text=True)
    assert "YG-" not in page


# -- 13: bad input never makes a 5xx ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/t/YG%00-1",
        "/t/YG%00-1/follow",
        "/q/ab%00cd",
        f"/photos/{'0' * 63}%00/display.jpg",
        "/j/1%00-abc",
        "/board/login?next=/%00/x",
    ],
)
def test_a_nul_byte_in_a_path_or_query_is_refused(client, demo, path):
    assert client.get(path).status_code in (400, 404)


def test_a_nul_in_the_login_name_is_a_form_error(client, demo):
    response = OfficerActions(client).log_in("offi\x00cer", "whatever")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "无法保存的不可见字符" in html and 'value="officer"' in html


@pytest.mark.parametrize("field", ["description", "spot", "name"])
def test_a_nul_in_the_report_is_a_form_error_that_keeps_the_rest(app, resident, field):
    typed = {"description": "楼道灯一直闪", "spot": "5楼楼梯口", "name": "王阿姨"}
    typed[field] = typed[field][:2] + "\x00" + typed[field][2:]
    response = resident.submit(**typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "无法保存的不可见字符" in html
    assert typed[field].replace("\x00", "") in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


def test_an_over_long_submission_key_asks_to_send_again(app, resident):
    response = resident.submit(submission_key="f" * 65)
    assert response.status_code == 422
    assert "请再按一次提交" in response.get_data(as_text=True)
    assert resident.submit(reuse_form=True).status_code == 303


@pytest.mark.parametrize(
    "query",
    [
        "community=99999999999999999999999",
        "building=-99999999999999999999",
        "contractor=abc",
        "q=%00",
    ],
)
def test_board_filters_out_of_bounds_are_refused_or_ignored(client, officer, query):
    assert client.get(f"/board?{query}").status_code in (200, 400)


@pytest.mark.parametrize(
    "query",
    ["from=0001-01-01", "to=9999-12-31", "from=2026-02-30", "community=9" * 3],
)
def test_statistics_bounds(client, officer, query):
    assert client.get(f"/board/stats?{query}").status_code < 500
    assert client.get(f"/board/stats.csv?{query}").status_code < 500


def test_a_nul_in_an_officer_note_is_refused_with_a_message(client, officer, resident):
    number = resident.report()
    response = officer.act(number, "note", note="打电话\x00给住户")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    # what to do about a character nobody can see: not "remove it"
    assert "无法保存的字符" in html and "请手动输入，不要粘贴" in html
