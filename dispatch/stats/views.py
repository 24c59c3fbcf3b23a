"""Statistics pages: the figures of a range and community, and their CSV export."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dispatch.board.auth import staff_only, visible_communities
from dispatch.board.nav import STAFF, add_board_link
from dispatch.stats import charts, export
from dispatch.stats.figures import (
    LATE,
    MET,
    OVERDUE,
    PENDING,
    SATISFACTION_TARGET,
    chart_rows,
    format_duration,
    format_percent,
    parse_range,
)
from dispatch.stats.queries import (
    PAUSABLE_CLOCKS,
    compliance,
    costs_by,
    counts_by_building,
    counts_by_category,
    counts_by_contractor,
    follow_up_compliance,
    in_range,
    response_times,
    satisfaction,
    scorecards,
    status_totals,
)
from repair.db import utcnow
from repair.i18n import current_locale, zone_name

bp = Blueprint("stats", __name__, url_prefix="/board")

CLOCK_TITLES = {
    "triage": _l("Triage: urgency confirmed"),
    "contact": _l("Urgent: contractor contacted"),
    "urgent_on_site": _l("Urgent: on site"),
    "general_on_site": _l("General: on site"),
    "hotline": _l("12345 hotline: done by its deadline"),
}

SHARE_COLOURS = {
    MET: "#146c2e",
    LATE: "#e0892b",
    OVERDUE: "#b3261e",
    PENDING: "#aab3c2",
}


def _selection():
    """Returns (visible communities, chosen ones, chosen community or None, range)."""
    visible = visible_communities()
    chosen_id = request.args.get("community", type=int)
    chosen = None
    if chosen_id:
        chosen = next((c for c in visible if c.id == chosen_id), None)
        if chosen is None:
            abort(404)  # not 403: no hint that it exists
    communities = [chosen] if chosen else visible
    zone = zone_name(communities[0] if communities else None)
    today = utcnow().astimezone(ZoneInfo(zone)).date()
    period = parse_range(request.args.get("from"), request.args.get("to"), today)
    return visible, communities, chosen, period


RANGE_ERRORS = {
    "invalid": _l("Dates must look like 2026-03-31; showing the last 30 days."),
    "reversed": _l("The start date is after the end date; showing the last 30 days."),
}


@bp.get("/stats")
@staff_only
def stats():
    """Statistics for a date range and community, with charts and tables."""
    visible, communities, chosen, period = _selection()
    where = in_range(communities, period.start, period.end)
    now = utcnow()
    locale = current_locale()
    by = {
        "category": counts_by_category(where, locale),
        "building": counts_by_building(where, locale, len(communities) > 1),
        "contractor": counts_by_contractor(where),
    }
    by_titles = {
        "category": _("Tickets by category"),
        "building": _("Tickets by building and common area"),
        "contractor": _("Tickets by contractor"),
    }
    charts_svg = {
        name: charts.bar_chart(
            chart_rows(rows), title=by_titles[name], chart_id=f"chart-{name}"
        )
        for name, rows in by.items()
        if rows
    }
    clocks = compliance(where, now)
    clocks_paused_time = compliance(where, now, paused_time=True)
    outcome_labels = {
        MET: _("Met"),
        LATE: _("Late"),
        OVERDUE: _("Not done, past due"),
        PENDING: _("Not yet due"),
    }
    shares = {
        clock: charts.share_bar(
            [
                (outcome_labels[o], getattr(result, o), SHARE_COLOURS[o])
                for o in (MET, LATE, OVERDUE, PENDING)
            ],
            title=str(CLOCK_TITLES[clock]),
        )
        for clock, result in clocks.items()
    }
    return render_template(
        "board/stats.html",
        visible=visible,
        chosen=chosen,
        period=period,
        range_error=RANGE_ERRORS.get(period.error),
        totals=status_totals(where),
        by=by,
        by_titles=by_titles,
        charts=charts_svg,
        clocks=clocks,
        clocks_paused_time={
            clock: clocks_paused_time[clock] for clock in PAUSABLE_CLOCKS
        },
        clock_titles=CLOCK_TITLES,
        shares=shares,
        outcome_labels=outcome_labels,
        share_colours=SHARE_COLOURS,
        times=response_times(where),
        scorecards=scorecards(where, now),
        satisfaction=satisfaction(where),
        follow_ups=follow_up_compliance(where, now),
        costs=costs_by(where, locale, len(communities) > 1),
        satisfaction_target=SATISFACTION_TARGET,
        format_duration=format_duration,
        format_percent=format_percent,
    )


@bp.get("/stats.csv")
@staff_only
def export_csv():
    """Every ticket submitted in the range, with every timestamp, as CSV."""
    _visible, communities, chosen, period = _selection()
    where = in_range(communities, period.start, period.end)
    name = f"repairdesk-{chosen.slug if chosen else 'all'}-{period.start}-{period.end}"
    # ?keys=en: stable English column keys and coded values, for machines
    keys = request.args.get("keys") == "en"
    body = export.csv_document(
        export.csv_rows(where, current_locale(), codes=keys), keys=keys
    )
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def init_app(app: Flask) -> None:
    """Registers the stats pages and their link in the board's navigation."""
    app.register_blueprint(bp)
    add_board_link(app, "stats.stats", _l("Statistics"), STAFF)
