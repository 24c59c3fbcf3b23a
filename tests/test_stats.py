"""Statistics: counts, SLA compliance, response times, scorecards and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from dispatch.contractor.tokens import job_token
from dispatch.models import Assignment
from dispatch.stats import export, figures, queries
from dispatch.stats.charts import bar_chart, share_bar
from repair.db import db
from repair.models import Community, Contractor, Rating, Ticket, Urgency
from tests.actions import (
    ContractorActions,
    OfficerActions,
    ResidentActions,
    make_other_community,
)
from tests.conftest import OFFICER_PASSWORD
from tests.factories import find_ticket

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
#: Monday 2 March 2026, 09:00 in Shanghai.
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RANGE = "from=2026-03-02&to=2026-03-05"
MIN = timedelta(minutes=1)

# --- the pure computations ----------------------------------------------------------


def test_compliance_counts_misses_but_not_what_is_not_yet_due():
    result = figures.Compliance(met=2, late=1, overdue=1, pending=2)
    assert (result.missed, result.decided, result.rate) == (2, 4, 0.5)
    assert figures.Compliance(pending=3).rate is None
    assert figures.format_percent(2 / 3) == "66.7%"
    assert figures.format_percent(1.0) == "100%"
    assert figures.format_percent(None) == "—"


def test_median_and_90th_percentile_of_known_durations():
    minutes = [5, 1, 4, 2, 3, 10, 6, 7, 9, 8]  # 1…10 minutes, unsorted
    result = figures.summarize([m * 60 for m in minutes] + [None])
    assert result.count == 10
    assert result.median == pytest.approx(5.5 * 60)
    assert result.p90 == pytest.approx(9.1 * 60)  # interpolated like percentile_cont
    assert figures.summarize([]) == figures.Durations(0, None, None)
    single = figures.summarize([42.0])
    assert (single.median, single.p90) == (42.0, 42.0)


def test_durations_read_like_people_say_them(app):
    assert figures.duration_parts(23 * 60 + 10) == (0, 0, 23)
    assert figures.duration_parts(100 * 60) == (0, 1, 40)
    assert figures.duration_parts(51 * 3600 + 20 * 60) == (2, 3, 0)
    with app.test_request_context("/?lang=en"):
        assert figures.format_duration(23 * 60) == "23 min"
        assert figures.format_duration(100 * 60) == "1 h 40 min"
        assert figures.format_duration(2 * 3600) == "2 h"
        assert figures.format_duration(51 * 3600 + 20 * 60) == "2 d 3 h"
        assert figures.format_duration(20) == "under 1 min"
        assert figures.format_duration(None) == "—"


def test_a_range_is_local_days_in_the_community_time_zone():
    first, after = figures.local_bounds(
        date(2026, 3, 2), date(2026, 3, 5), "Asia/Shanghai"
    )
    assert first == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
    today = date(2026, 3, 31)
    assert figures.parse_range(None, None, today) == figures.DateRange(
        date(2026, 3, 2), today
    )
    assert figures.parse_range("2026-01-01", "2026-01-31", today).error is None
    assert figures.parse_range("2026-13-01", "", today).error == "invalid"
    reversed_range = figures.parse_range("2026-02-01", "2026-01-01", today)
    assert reversed_range.error == "reversed" and reversed_range.end == today


def test_charts_are_svg_with_escaped_labels():
    svg = str(bar_chart([("<b>电梯</b>", 3), ("照明", 1)], title="A & B", chart_id="c"))
    assert svg.startswith("<svg") and "<b>" not in svg and "&lt;b&gt;" in svg
    assert "A &amp; B" in svg and ">3</text>" in svg
    widths = [float(w) for w in re.findall(r'<rect x="128" [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(3 * widths[1], abs=0.2)
    bar = str(share_bar([("met", 3, "#0f0"), ("late", 1, "#f00")], title="x"))
    assert 'width="225"' in bar and 'width="75"' in bar
    many = figures.chart_rows([(str(i), 20 - i) for i in range(20)], limit=5)
    assert len(many) == 5 and many[-1][1] == sum(20 - i for i in range(4, 20))


# --- the page and the export, on a real database -------------------------------------


def _link(app, number: str) -> str:
    """Returns the job link of the ticket's current assignment."""
    with app.app_context():
        assignment = db.session.scalar(
            sa.select(Assignment)
            .join(Ticket)
            .where(Ticket.number == number, Assignment.ended_at.is_(None))
        )
        return f"/j/{job_token(assignment.id)}"


def _log_in_again(officer: OfficerActions) -> None:
    """Logs in under the frozen clock (a session signed in the future is refused)."""
    assert officer.log_in("officer", OFFICER_PASSWORD).status_code == 302


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


def _table(html: str, element_id: str) -> dict[str, int]:
    """Returns the label → count rows of a chart's table."""
    rows = re.findall(
        r'<tr><td>([^<]+)</td><td class="num">(\d+)</td></tr>',
        _section(html, element_id),
    )
    return {label: int(count) for label, count in rows}


def _clock(html: str, clock: str) -> dict[str, int]:
    tag = re.search(rf'id="clock-{clock}"[^>]*>', html).group(0)
    return {k: int(v) for k, v in re.findall(r'data-(\w+)="(\d+)"', tag)}


def test_anonymous_visitors_are_sent_to_the_login(client, demo):
    for path in ("/board/stats", f"/board/stats.csv?{RANGE}"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/board/login" in response.headers["Location"]


def test_statistics_is_in_the_board_navigation_once(app, client, officer, settings):
    from repair import create_app

    create_app(settings)  # a second app adds no link to this one
    page = client.get("/board?lang=en").get_data(as_text=True)
    assert page.count('href="/board/stats"') == 1


def test_officer_counts_this_months_tickets_by_category_building_and_contractor(
    app, client, officer, resident
):
    resident.report(description="电梯困人了", spot="3栋电梯")
    resident.report(description="楼道灯不亮", spot="2楼楼道")
    resident.report(description="楼道灯不亮了，黑乎乎的", spot="5楼楼道")
    page = client.get("/board/stats?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'id="total-tickets">3<', html)
    assert _table(html, "by-category") == {"Lift": 1, "Lighting": 2}
    assert _table(html, "by-building") == {"Building 3": 3}
    assert _table(html, "by-contractor") == {"安居维保服务有限公司": 3}
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    assert "No ratings in this range yet." in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no CDN, nothing external


def test_sla_compliance_and_response_times_of_a_known_week(
    app, client, officer, resident
):
    """A: everything in time. B: everything late. C: forgotten (overdue).
    D: just reported (not yet due). E: rejected (on no clock)."""
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        a = resident.report(description="电梯坏了，停在5楼不动了")
        clock.tick(10 * 60)
        ContractorActions(client, PRIMARY).tap(_link(app, a), "accept")
        clock.tick(10 * 60)
        officer.act(a, "triage", urgency="urgent", category="lift")
        clock.tick(40 * 60)
        ContractorActions(client, PRIMARY).tap(_link(app, a), "arrive")  # T0+1h

        clock.move_to(T0 + timedelta(hours=2))
        b = resident.report(description="电梯坏了，停在5楼不动了")
        clock.tick(45 * 60)
        ContractorActions(client, PRIMARY).tap(_link(app, b), "accept")
        clock.tick(45 * 60)
        officer.act(b, "triage", urgency="urgent", category="lift")  # +1 h 30 min
        clock.tick(90 * 60)
        ContractorActions(client, PRIMARY).tap(_link(app, b), "arrive")  # +3 h

        clock.move_to(T0 + timedelta(hours=4))
        c = resident.report(description="楼道灯不亮")
        e = resident.report(description="我家里的灯坏了")
        officer.act(e, "reject", reason="不属于公共区域")

        clock.move_to(T0 + timedelta(days=3))
        d = resident.report(description="楼道灯不亮")
        clock.tick(10 * 60)
        with app.app_context():
            assert find_ticket(a).urgency is find_ticket(b).urgency is Urgency.URGENT
            assert find_ticket(c).urgency is find_ticket(d).urgency is Urgency.GENERAL
        html = client.get(f"/board/stats?{RANGE}&lang=en").get_data(as_text=True)

    assert re.search(r'id="total-tickets">5<', html)
    assert re.search(r'id="total-ended">1<', html)
    assert _clock(html, "triage") == {"met": 1, "late": 1, "overdue": 1, "pending": 1}
    assert _clock(html, "contact") == {"met": 1, "late": 1, "overdue": 0, "pending": 0}
    assert _clock(html, "urgent_on_site") == {
        "met": 1,
        "late": 1,
        "overdue": 0,
        "pending": 0,
    }
    assert _clock(html, "general_on_site") == {
        "met": 0,
        "late": 0,
        "overdue": 1,
        "pending": 1,
    }
    triage = html.split('id="clock-triage"')[1].split("</div>")[0]
    assert "33.3%" in triage and "1 of 3 on time" in triage
    # contact: 10 min and 45 min; on site: 1 h and 3 h
    contact = html.split('id="time-contact"')[1].split("</tr>")[0]
    assert re.findall(r'class="num[^"]*">([^<]+)<', contact) == [
        "2",
        "28 min",
        "42 min",
    ]
    on_site = html.split('id="time-on_site"')[1].split("</tr>")[0]
    assert re.findall(r'class="num[^"]*">([^<]+)<', on_site) == [
        "2",
        "2 h",
        "2 h 48 min",
    ]


def test_triage_clocks_are_met_late_overdue_or_not_yet_due(
    app, client, officer, resident
):
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        numbers = [resident.report(description=f"{n}楼楼道灯不亮") for n in range(5)]
        for number, minutes in zip(numbers, (20, 50, 60, 70), strict=False):
            clock.move_to(T0 + minutes * MIN)
            officer.act(number, "triage", urgency="general", category="lighting")
        clock.move_to(T0 + 75 * MIN)
        resident.report(description="6楼楼道灯不亮")
    now = T0 + 80 * MIN
    with app.app_context():
        tickets = db.session.scalars(sa.select(Ticket)).all()
        assert {t.triage_due_at for t in tickets[:5]} == {T0 + 60 * MIN}
        communities = db.session.scalars(sa.select(Community)).all()
        where = queries.in_range(communities, date(2026, 3, 2), date(2026, 3, 2))
        # met at 20, 50 and on the minute (60); late at 70; one never triaged
        # (overdue); the last one's clock has not run out yet
        assert queries.compliance(where, now)["triage"] == figures.Compliance(
            met=3, late=1, overdue=1, pending=1
        )


def test_a_declined_job_lowers_the_contractors_acceptance(
    app, client, officer, resident
):
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        accepted = resident.report(description="楼道灯不亮")
        ContractorActions(client, PRIMARY).tap(_link(app, accepted), "accept")
        declined = resident.report(description="楼道灯不亮了")
        ContractorActions(client, PRIMARY).tap(
            _link(app, declined), "decline", reason="busy"
        )
        clock.tick(5 * 60)
        with app.app_context():
            assert find_ticket(declined).contractor.phone == BACKUP  # AB岗
        ContractorActions(client, BACKUP).tap(_link(app, declined), "accept")
        clock.tick(60 * 60)
        ContractorActions(client, BACKUP).tap(_link(app, declined), "arrive")
        html = client.get(f"/board/stats?{RANGE}&lang=en").get_data(as_text=True)
    with app.app_context():
        ids = dict(db.session.execute(sa.select(Contractor.phone, Contractor.id)).all())
    primary = re.search(rf'<tr id="scorecard-{ids[PRIMARY]}"[^>]*>', html).group(0)
    backup_row = html.split(f'id="scorecard-{ids[BACKUP]}"')[1].split("</tr>")[0]
    assert 'data-assignments="2" data-accepted="1" data-declined="1"' in primary
    primary_row = html.split(f'id="scorecard-{ids[PRIMARY]}"')[1].split("</tr>")[0]
    assert 'class="num rate acceptance">50%<' in primary_row
    assert 'class="num rate acceptance">100%<' in backup_row
    assert "100%<small>1/1</small>" in backup_row  # on site within 24 h


def test_a_reopened_job_counts_against_the_contractor_who_completed_it(
    app, client, officer, resident
):
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        numbers = [resident.report(description=f"{n}楼楼道灯不亮") for n in range(2)]
        contractor = ContractorActions(client, PRIMARY)
        for number in numbers:
            link = _link(app, number)
            contractor.tap(link, "accept")
            clock.tick(30 * 60)
            assert contractor.complete(link, worker_name="王师傅").status_code == 303
        clock.tick(3600)
        officer.act(numbers[0], "reopen", note="灯又不亮了")
        html = client.get(f"/board/stats?{RANGE}&lang=en").get_data(as_text=True)
    with app.app_context():
        primary_id = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == PRIMARY)
        )
    row = html.split(f'id="scorecard-{primary_id}"')[1].split("</tr>")[0]
    assert 'data-completed="2" data-reopened="1"' in html
    assert "50%<small>1/2</small>" in row


def test_a_triage_confirmed_late_stays_late_after_a_reopen(
    app, client, officer, resident
):
    # Outside tester: the board and two SMS said the triage was late; once the
    # resident said "not fixed", the reopen moved its deadline after the
    # confirmation, and the statistics and the CSV counted it on time.
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        number = resident.report(description="2楼楼道灯不亮了")
        clock.tick(61 * 60)  # past the hour
        officer.act(number, "triage", urgency="general", category="lighting")
        contractor = ContractorActions(client, PRIMARY)
        link = _link(app, number)
        contractor.tap(link, "accept")
        assert contractor.complete(link, worker_name="王师傅").status_code == 303
        clock.tick(10 * 60)
        officer.act(number, "reopen", note="灯又不亮了")
        body = client.get(f"/board/stats.csv?{RANGE}&keys=en").get_data()
    [row] = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert row["triage_due_at"] < row["urgency_confirmed_at"]
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.triage_due_at == T0 + timedelta(hours=1)
        assert ticket.urgency_confirmed_at > ticket.triage_due_at


def test_csv_has_every_ticket_with_its_timestamps(app, client, officer, resident):
    with freeze_time(T0) as clock:
        _log_in_again(officer)
        first = resident.report(description="电梯坏了，停在5楼不动了")
        clock.tick(10 * 60)
        ContractorActions(client, PRIMARY).tap(_link(app, first), "accept")
        second = resident.report(description="楼道灯不亮", phone="13912345678")
    with freeze_time(T0 + timedelta(days=10)):
        later = resident.report(description="楼道灯不亮")  # outside the range
        response = client.get(f"/board/stats.csv?{RANGE}&keys=en")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [row["number"] for row in rows] == [first, second]
    assert later not in body.decode("utf-8-sig")
    row = rows[0]
    assert set(export.CSV_TIMES) <= set(row)
    assert row["community"] == "阳光花园" and row["building"] == "3栋"
    assert row["entrance"] == "2单元" and row["category"] == "电梯"
    assert (row["urgency"], row["status"], row["channel"]) == (
        "urgent",
        "accepted",
        "qr",
    )
    assert row["contractor"] == "安居维保服务有限公司"
    assert row["created_at"] == "2026-03-02T09:00:00+08:00"  # local, with its offset
    assert row["accepted_at"] == "2026-03-02T09:10:00+08:00"
    assert row["contact_due_at"] == "2026-03-02T09:30:00+08:00"
    assert row["completed_at"] == ""
    assert "13912345678" not in body.decode("utf-8-sig")  # no resident phone numbers


def test_officer_of_another_community_sees_none_of_our_figures(
    app, client, officer, resident
):
    ours = resident.report(description="扶手松动")
    other = make_other_community(app)
    code, username = other.code, other.username
    theirs = ResidentActions(client, code).report(description="绿城的路灯不亮")
    with app.app_context():
        our_community = find_ticket(ours).community_id
    other = OfficerActions(app.test_client())
    assert other.log_in(username, "another password").status_code == 302
    assert (
        other.client.get(f"/board/stats?community={our_community}").status_code == 404
    )
    assert (
        other.client.get(f"/board/stats.csv?community={our_community}")
    ).status_code == 404
    exported = other.client.get("/board/stats.csv").get_data().decode()
    assert ours not in exported and theirs in exported
    page = other.client.get("/board/stats?lang=en").get_data(as_text=True)
    assert re.search(r'id="total-tickets">1<', page)
    assert "阳光花园" not in page
    # and our officer sees only ours
    mine = client.get("/board/stats.csv").get_data().decode()
    assert ours in mine and theirs not in mine


def test_a_broken_date_falls_back_to_the_last_30_days(app, client, officer):
    html = client.get("/board/stats?from=2026-02-30&lang=en").get_data(as_text=True)
    assert 'id="range-error"' in html
    assert re.search(r'id="total-tickets">0<', html)
    assert "No tickets in this range." in html


def test_long_chart_labels_are_cut_to_fit():
    from dispatch.stats.charts import fit_label

    assert fit_label("照明", 120) == "照明"
    short = fit_label("安居维保服务有限公司第二工程队", 118)
    assert short.endswith("…") and len(short) <= 10
    assert fit_label("Structure / falling objects", 118).endswith("…")


def test_satisfaction_counts_four_and_five_stars_as_satisfied():
    rated = figures.summarize_ratings(
        [(5, "安居"), (4, "安居"), (2, "顺达"), (5, None)]
    )
    assert (rated.ratings, rated.satisfied) == (4, 3)
    assert rated.rate == 0.75 and rated.average == 4.0
    assert rated.by_contractor[0] == ("", 1, 5.0, 1.0)
    assert ("顺达", 1, 2.0, 0.0) in rated.by_contractor
    assert figures.summarize_ratings([]).rate is None


def test_residents_ratings_reach_the_statistics(app, client, officer, resident):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        db.session.add(Rating(ticket_id=ticket.id, stars=5, comment="好"))
        db.session.commit()
    page = client.get("/board/stats?lang=en").get_data(as_text=True)
    satisfaction = page.split('id="satisfaction"')[1].split("</section>")[0]
    assert 'id="satisfaction-rate">100' in satisfaction
    assert "安居维保服务有限公司" in satisfaction


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    app, client, officer, resident
):
    with freeze_time(T0):
        _log_in_again(officer)
        number = resident.report(description="楼道灯不亮")
        with app.app_context():
            ticket = find_ticket(number)
            ticket.contractor.name = '=HYPERLINK("http://evil.example","Click")'
            ticket.entrance.building.name = "+1栋"
            ticket.entrance.name = "@SUM(1)"
            db.session.commit()
        body = client.get(f"/board/stats.csv?{RANGE}&keys=en")
        body = body.get_data().decode("utf-8-sig")
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["contractor"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert row["building"] == "'+1栋" and row["entrance"] == "'@SUM(1)"
    assert row["community"] == "阳光花园" and row["number"] == number
    assert [export.neutralise(c) for c in ("-2", "\tx", "\rx", "a=b", "")] == [
        "'-2",
        "'\tx",
        "'\rx",
        "a=b",
        "",
    ]


def test_csv_speaks_the_officers_language_with_the_description_and_spot(
    app, client, officer, resident
):
    with freeze_time(T0):
        _log_in_again(officer)
        number = resident.report(description="=1+1 楼道灯不亮", spot="3楼楼梯间")
        body = client.get(f"/board/stats.csv?{RANGE}").get_data().decode("utf-8-sig")
        keyed = client.get(f"/board/stats.csv?{RANGE}&keys=en").get_data()
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["报修单号"] == number
    assert row["具体位置"] == "3楼楼梯间"
    assert row["问题"] == "'=1+1 楼道灯不亮"  # residents' text neutralised too
    assert row["状态"] == "已派单" and row["紧急程度"] == "一般"
    assert "报修时间" in row and "created_at" not in row
    [machine] = list(csv.DictReader(io.StringIO(keyed.decode("utf-8-sig"))))
    assert machine["number"] == number and machine["status"] == "dispatched"
    assert (
        machine["description"] == "'=1+1 楼道灯不亮" and machine["spot"] == "3楼楼梯间"
    )
