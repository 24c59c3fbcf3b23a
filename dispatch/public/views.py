"""`/p/<community>`: a community's public results, its monthly archive, CSV and
SVG; and the board's action that lets a ticket's description be published.

Figures are computed on request from the officer statistics' queries and kept
for `PUBLIC_RESULTS_MAX_AGE` (5 minutes by default) per process, with the same
``Cache-Control: public, max-age`` for browsers and proxies: always within
minutes of the database ("updated at least daily" with room to spare), never a
second copy of the figures that could drift from the officer's statistics.
"""

from __future__ import annotations

import calendar
import csv
import io
import time
from collections import OrderedDict
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    has_app_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from dispatch.board.auth import staff_only, ticket_or_404
from dispatch.public.forms import PublicForm
from dispatch.public.results import (
    Month,
    month_results,
    months_published,
    parse_month,
)
from dispatch.stats import charts
from dispatch.stats.export import neutralise
from dispatch.stats.figures import (
    LATE,
    MET,
    OVERDUE,
    SATISFACTION_TARGET,
    format_duration,
    format_percent,
)
from dispatch.stats.views import CLOCK_TITLES, SHARE_COLOURS
from repair import lifecycle, signals
from repair.config import parse_duration
from repair.db import db, utcnow
from repair.i18n import current_locale, format_local, zone_name
from repair.models import ActorType, Channel, Community

bp = Blueprint("public", __name__)

_CACHE = "public_results"
#: Months kept per process; beyond that the least recently computed go first.
CACHE_ENTRIES = 256

STEP_TITLES = {
    "contact": _l("Reported → contractor answered"),
    "on_site": _l("Reported → on site"),
    "completed": _l("Reported → repaired"),
}


def _max_age() -> int:
    return int(
        parse_duration(current_app.config["PUBLIC_RESULTS_MAX_AGE"]).total_seconds()
    )


def _community_or_404(slug: str) -> Community:
    community = db.session.scalar(
        sa.select(Community).where(Community.slug == slug[:64])
    )
    if community is None or not community.publishes_results:
        raise _NotPublished()
    return community


class _NotPublished(Exception):
    """No such community, or it does not publish its results."""


@bp.errorhandler(_NotPublished)
def not_published(_error):
    """The same page for an unknown community and one that turned the page off."""
    return render_template("public/not_found.html"), 404


def _today(community: Community) -> date:
    return utcnow().astimezone(ZoneInfo(zone_name(community))).date()


def _month_or_404(community: Community, text: str) -> date:
    first = parse_month(text, _today(community))
    if first is None:
        raise _NotPublished()
    return first


def _cached(key: tuple, compute):
    """Returns this process's cached value of ``key`` while fresh, else computes
    and keeps it for PUBLIC_RESULTS_MAX_AGE (the key starts with the community)."""
    cache: OrderedDict = current_app.extensions.setdefault(_CACHE, OrderedDict())
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    max_age = _max_age()
    if max_age > 0:
        cache[key] = (now + max_age, value)
        cache.move_to_end(key)
        while len(cache) > CACHE_ENTRIES:
            cache.popitem(last=False)
    return value


def _results(community: Community, first: date) -> Month:
    """Returns the month's results, from this process's cache while fresh."""
    locale = current_locale()
    return _cached(
        (community.id, "month", first, locale),
        lambda: month_results(community, first, utcnow(), locale),
    )


def _forget(community_id: int) -> None:
    """Drops this process's cached months of the community (a publication was
    taken back: it goes at once here, within PUBLIC_RESULTS_MAX_AGE elsewhere)."""
    cache: OrderedDict = current_app.extensions.setdefault(_CACHE, OrderedDict())
    for key in [key for key in cache if key[0] == community_id]:
        del cache[key]


def _public(response: Response) -> Response:
    # A signed-in officer's response may carry their session cookie: never one
    # for a shared cache.
    cookie = current_app.session_interface.get_cookie_name(current_app)
    signed_in = cookie in request.cookies
    scope = "private" if signed_in else "public"
    response.headers["Cache-Control"] = f"{scope}, max-age={_max_age()}"
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")  # the language toggle's cookie
    return response


def _chart(month: Month, chart_id: str = "chart-categories"):
    rows = [(f.label, f.completed, f.received) for f in month.by_category]
    return charts.part_of_whole_chart(
        rows,
        title=_(
            "Reports and completed repairs by category, %(month)s", month=month.key
        ),
        chart_id=chart_id,
        legend=(_("Repaired"), _("Reports received")),
    )


@bp.get("/p/<slug>")
def current_month(slug: str):
    """The community's results of the month so far, with links to earlier months."""
    community = _community_or_404(slug)
    return _month_page(community, _today(community).replace(day=1))


@bp.get("/p/<slug>/<month>")
def archived_month(slug: str, month: str):
    """One month's results."""
    community = _community_or_404(slug)
    return _month_page(community, _month_or_404(community, month))


def _share(result, title) -> str:
    """Returns the clock's met, late and overdue shares as a bar."""
    return charts.share_bar(
        [
            (_("On time"), result.met, SHARE_COLOURS[MET]),
            (_("Late"), result.late, SHARE_COLOURS[LATE]),
            (_("Late, still open"), result.overdue, SHARE_COLOURS[OVERDUE]),
        ],
        title=str(title),
        height=10,
    )


def month_label(first: date) -> str:
    """Returns '2026年3月' or 'March 2026'."""
    if current_locale() == "en":
        return f"{calendar.month_name[first.month]} {first.year}"
    return f"{first.year}年{first.month}月"


def _month_page(community: Community, first: date):
    body = _cached(
        (community.id, "page", first, current_locale()),
        lambda: Markup(_render_body(community, first)),
    )
    html = render_template(
        "public/month.html",
        community=community,
        month=_results(community, first),
        month_label=month_label,
        body=body,
        home_url=url_for("public.current_month", slug=community.slug),
    )
    return _public(Response(html, mimetype="text/html"))


def _render_body(community: Community, first: date) -> str:
    results = _results(community, first)
    today = _today(community)
    months = months_published(community, today)
    return render_template(
        "public/_month_body.html",
        community=community,
        month=results,
        is_current=first == today.replace(day=1),
        months=months,
        chart=_chart(results) if results.by_category else None,
        clock_titles=CLOCK_TITLES,
        step_titles=STEP_TITLES,
        format_duration=format_duration,
        format_percent=format_percent,
        satisfaction_target=SATISFACTION_TARGET,
        zone=zone_name(community),
        month_label=month_label,
        share=_share,
    )


@bp.get("/p/<slug>/<month>/chart.svg")
def chart_svg(slug: str, month: str):
    """The month's chart as an SVG image."""
    community = _community_or_404(slug)
    results = _results(community, _month_or_404(community, month))
    svg = _chart(results, chart_id="chart")
    return _public(Response(str(svg), mimetype="image/svg+xml"))


FIGURE_COLUMNS = (
    "category",
    "received",
    "completed",
    "ended_without_work",
    *(
        f"{clock}_{outcome}"
        for clock in CLOCK_TITLES
        for outcome in ("met", "late", "overdue", "pending", "rate")
    ),
    "median_seconds_to_contact",
    "median_seconds_to_on_site",
    "median_seconds_to_completed",
    "ratings",
    "satisfied",
    "satisfaction_rate",
    "average_stars",
)
REPAIR_COLUMNS = (
    "number",
    "place",
    "category",
    "received_at",
    "completed_at",
    "description",
)


def _csv(rows, name: str) -> Response:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralise(_cell(cell)) for cell in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return _public(response)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


@bp.get("/p/<slug>/<month>/figures.csv")
def figures_csv(slug: str, month: str):
    """The month's figures, one row for all categories and one per category."""
    community = _community_or_404(slug)
    results = _results(community, _month_or_404(community, month))
    rows = [FIGURE_COLUMNS]
    for figures in (results.total, *results.by_category):
        row = [figures.label, figures.received, figures.completed, figures.ended]
        for clock in CLOCK_TITLES:
            result = figures.clocks[clock]
            row += [result.met, result.late, result.overdue, result.pending]
            row.append(result.rate)
        row += [figures.times[step].median for step in STEP_TITLES]
        ratings = figures.satisfaction
        row += [ratings.ratings, ratings.satisfied, ratings.rate, ratings.average]
        rows.append(row)
    return _csv(rows, f"{community.slug}-{results.key}-figures")


@bp.get("/p/<slug>/<month>/repairs.csv")
def repairs_csv(slug: str, month: str):
    """The month's completed repairs (local times with their UTC offset)."""
    community = _community_or_404(slug)
    results = _results(community, _month_or_404(community, month))
    zone = ZoneInfo(zone_name(community))
    rows = [REPAIR_COLUMNS]
    for repair in results.repairs:
        rows.append(
            [
                repair.number,
                repair.place,
                repair.category,
                repair.received_at.astimezone(zone).isoformat(),
                repair.completed_at.astimezone(zone).isoformat()
                if repair.completed_at
                else "",
                repair.description,
            ]
        )
    return _csv(rows, f"{community.slug}-{results.key}-repairs")


@bp.post("/board/t/<number>/public")
@staff_only
def set_public(number: str):
    """Lets the public results show the ticket's description, or stops it."""
    ticket = ticket_or_404(number)
    form = PublicForm()
    if form.validate_on_submit():
        public = form.public.data == "1"
        actor = lifecycle.Actor(
            ActorType.OFFICER,
            Channel.BOARD,
            current_user.id,
            current_user.display_name or current_user.username,
        )
        if lifecycle.set_public(ticket, public, actor) is not None:
            db.session.commit()
            _forget(ticket.community_id)
            flash(
                _("The description is shown on the public results.")
                if public
                else _("The description is no longer shown on the public results."),
                "ok",
            )
    return redirect(url_for("board.ticket", number=ticket.number), code=303)


def _withdraw_on_erasure(sender, ticket, **extra) -> None:
    """A resident's personal data erased: a published description is withdrawn
    too. It was published with the reporter's name hidden by the name on file,
    which the erasure removes; the text itself may name them."""
    if ticket.made_public_at is None:
        return
    lifecycle.set_public(ticket, False, lifecycle.Actor.system())
    if has_app_context():
        _forget(ticket.community_id)


def init_app(app: Flask) -> None:
    """Registers the public pages and their date filter; erasure withdraws."""
    app.register_blueprint(bp)
    app.jinja_env.filters.setdefault("localdate", _local_date)
    signals.personal_data_erased.connect(_withdraw_on_erasure, weak=False)


def _local_date(value, zone: str) -> str:
    return format_local(value, zone)[:10] if value else "—"
