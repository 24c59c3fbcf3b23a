"""The resident's pages: QR landing and report form, confirmation, tracking."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from limits import parse as parse_limit
from sqlalchemy import orm
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from repair import lifecycle
from repair.config import parse_duration
from repair.dangers import (
    DANGERS,
    declared,
    emergency_numbers,
    is_lift_entrapment,
    lift_numbers,
    words_say_danger,
)
from repair.db import db, reading, utcnow
from repair.i18n import current_locale, local_time, zone_name
from repair.models import (
    WORKING_STATUSES,
    ActorType,
    Category,
    Channel,
    Entrance,
    Lift,
    Ticket,
    TicketFollower,
    TicketStatus,
)
from repair.photos.uploads import ACCEPT_ATTRIBUTE, PhotoUploads, finish_upload
from repair.places import find_entrance_code
from repair.resident.forms import (
    AddPhotoForm,
    FollowForm,
    NotFixedForm,
    RatingForm,
    ReportForm,
    ResidentActionForm,
)
from repair.security import checks_own_input, csrf, limiter

bp = Blueprint("resident", __name__)
log = logging.getLogger(__name__)


SESSION_TICKETS = "my_tickets"


def _categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))


def _is_accepted_report(response) -> bool:
    """Returns whether a report post made (or found) a ticket: only those count
    against the rate limit, never a form shown again with its errors."""
    return response.status_code == 303 or response.mimetype == "application/json"


def _report_limited(_limit):
    """Answers a report over the rate limit with the form and what was typed in it,
    and the community's number to call instead.

    A report that says someone is in danger is never held back by the address's
    count of ordinary reports (a block's shared Wi-Fi or a carrier's NAT is one
    address): it is filed while the address's own budget of danger reports
    (SUBMIT_DANGER_RATE_LIMIT) lasts."""
    code = (request.view_args or {}).get("code", "")
    if _is_relabel() or (_declares_danger() and _danger_budget_left()):
        # The language toggle files nothing: never held back (outside tester:
        # a limited address lost its photo by switching the language).
        return current_app.make_response(_report_post(code))
    with reading():
        known = find_entrance_code(code)
        if (
            known is None
            or known.retired_at is not None
            or known.entrance.retired_at is not None
        ):
            return None
        g.timezone = zone_name(known.entrance.community)
        entrance = known.entrance
        form = ReportForm()
        form.category.choices = _category_choices(_categories())
        form.lift.choices = _lift_choices(entrance)
        # "What you typed is kept": the photos too, as on any form shown again
        # (outside tester: the page said so, and the photos were gone).
        uploads = PhotoUploads(
            form.kept_photos.data, int(current_app.config["PHOTOS_PER_TICKET"]), True
        )
        if form.validate():  # its token checked: it may leave photos with us
            uploads.take(request.files.getlist("photos"))
        form.kept_photos.data = uploads.token()
        if form.phone.raw_data:
            form.phone.data = form.phone.raw_data[0]  # as typed
        phone = entrance.community.service_phone
        again = _free_again_at(_limit)
        if again and phone:
            notice = _l(
                "Too many reports were sent from here just now. What you typed is "
                "kept: please send again after %(time)s, or call the community on "
                "%(phone)s.",
                time=again,
                phone=phone,
            )
        elif again:
            notice = _l(
                "Too many reports were sent from here just now. What you typed is "
                "kept: please send again after %(time)s.",
                time=again,
            )
        elif phone:
            notice = _l(
                "Too many reports were sent from here just now. What you typed is "
                "kept: please send again later, or call the community on %(phone)s.",
                phone=phone,
            )
        else:
            notice = _l(
                "Too many reports were sent from here just now. What you typed is "
                "kept: please send again later."
            )
        page = render_template(
            "resident/report.html",
            form=form,
            entrance=entrance,
            emergency=_emergency(entrance),
            kept=uploads.previews(),
            photo_errors=uploads.errors,
            accept=ACCEPT_ATTRIBUTE,
            notice=notice,
            limited=True,
        )
    return current_app.make_response((page, 429))


def _free_again_at(limit) -> str | None:
    """Returns the local time (HH:MM) when the address may send a report again,
    None if the limit's store cannot say (outside tester: "later" said nothing)."""
    try:
        when = datetime.fromtimestamp(limit.reset_at, UTC)
    except Exception:  # the store away, or no limit object: say "later"
        log.warning("rate limit reset time unknown", exc_info=True)
        return None
    return local_time(when).strftime("%H:%M")


def _declares_danger() -> bool:
    """Returns whether the report posted declares a danger (its form read within
    the report's own limits)."""
    _limit_report_post()
    try:
        return request.form.get("danger") in DANGERS
    except RequestEntityTooLarge:
        return False


def _is_relabel() -> bool:
    """Returns whether the post only switches the form's language (relabel)."""
    _limit_report_post()
    try:
        return bool(request.form.get("relabel"))
    except RequestEntityTooLarge:
        return False


def _danger_budget_left() -> bool:
    """Counts a danger report against its address's own budget; True while it
    lasts (and when it cannot be counted: someone in danger is not turned away
    because Redis is)."""
    try:
        return limiter.limiter.hit(
            parse_limit(current_app.config["SUBMIT_DANGER_RATE_LIMIT"]),
            "resident-danger-report",
            get_remote_address(),
        )
    except Exception:  # the limits library's storage errors have no common base
        log.warning("danger report not counted: the rate-limit store is away")
        return True


def _limit_report_post() -> None:
    """Sets the report's own limits before its form is read: the size of every
    photo at its limit, and each field and photo once."""
    config = current_app.config
    request.max_content_length = int(config["MAX_CONTENT_LENGTH"])
    # Each field once, each photo once, and the two (maybe empty) photo pickers.
    request.max_form_parts = _REPORT_FIELDS + int(config["PHOTOS_PER_TICKET"]) + 2


@bp.route("/q/<code>", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["SUBMIT_RATE_LIMIT"],
    methods=["POST"],
    deduct_when=_is_accepted_report,
    on_breach=_report_limited,
)
@checks_own_input
def report(code: str):
    """Shows the report form for an entrance and turns a valid post into a ticket."""
    if request.method == "POST":
        return _report_post(code)
    with reading():
        known = find_entrance_code(code)
        refusal = _refuse(known)
        if refusal is not None:
            return refusal
        entrance = known.entrance
        form = ReportForm()
        form.category.choices = _category_choices(_categories())
        form.lift.choices = _lift_choices(entrance)
        form.submission_key.data = uuid.uuid4().hex
        return render_template(
            "resident/report.html",
            nearby=reported_nearby(entrance, int(current_app.config["ME_TOO_DAYS"])),
            form=form,
            entrance=entrance,
            emergency=_emergency(entrance),
            kept=[],
            photo_errors=[],
            accept=ACCEPT_ATTRIBUTE,
        )


def _report_post(code: str):
    """Checks what costs nothing first (size, parts, token, fields, photo count and
    headers), keeps the originals privately, and writes the ticket in one short
    transaction; the photos are processed by a job after the commit."""
    config = current_app.config
    limit = int(config["PHOTOS_PER_TICKET"])
    _limit_report_post()
    try:
        form = ReportForm()
    except RequestEntityTooLarge:
        return _report_too_large(code)
    with reading():
        try:
            found = _retrying(lambda: _find_place(code, form))
        except DatabaseAway:
            return _report_again(form, _Place.unknown(form), limit, away=True)
        if not isinstance(found, _Place):
            return found
        place = found
        form.category.choices = place.category_choices
        form.lift.choices = place.lift_choices
        fields_ok = form.validate()
        uploads = PhotoUploads(form.kept_photos.data, limit, deferred=True)
        if not form.csrf_token.errors:
            # Only a post with a valid token may leave photos with us.
            uploads.take(request.files.getlist("photos"))
        if request.form.get("relabel"):
            # The language toggle pressed on a filled-in form: the same form in
            # the other language with everything kept, nothing sent (an outside
            # tester's English tap emptied the form, photo and all).
            for field in form:
                if field is not form.csrf_token:
                    field.errors = []
            page, _status = _report_again(form, place, limit, uploads=uploads)
            return page, 200
        # Photos are asked for, not required: nobody should photograph a gas leak.
        if not fields_ok or uploads.errors:
            return _report_again(form, place, limit, uploads=uploads)
        db.session.rollback()  # ends the read: the write transaction begins afresh
    try:
        filed = _retrying(lambda: _open(place.entrance_id, form, uploads))
    except DatabaseAway:
        return _report_again(form, place, limit, uploads=uploads, away=True)
    if filed is None:
        with reading():
            ticket = _ticket_for_submission(form.submission_key.data)
            if ticket is None:
                abort(409)
            filed = _Filed(ticket.number, ticket.resident_key)
    _remember_report(code, form, filed)
    return _submitted(filed)


#: The report form's fields other than photos (CSRF token included), and the
#: flag of a post that only switches the form's language (relabel).
_REPORT_FIELDS = 11


class DatabaseAway(Exception):
    """The database did not answer, even after a few short retries."""


@dataclass(frozen=True)
class _Filed:
    """What the resident's answer needs of a ticket just written: read before its
    commit, so that answering asks the database nothing more."""

    number: str
    resident_key: str


def _retrying(work):
    """Returns work(), retried briefly when the database connection fails."""
    delays = [
        parse_duration(delay).total_seconds()
        for delay in str(current_app.config["SUBMIT_DB_RETRIES"]).split()
    ]
    for delay in [*delays, None]:
        try:
            return work()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as problem:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                db.session.rollback()
            if delay is None:
                log.warning("database away; the report is shown again: %s", problem)
                raise DatabaseAway from problem
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass
class _Place:
    """What the report form shows of its entrance, read once (the page can be shown
    again without the database)."""

    entrance_id: int | None
    title: str
    community_name: str
    service_phone: str | None
    category_choices: list[tuple[str, str]]
    lift_choices: list[tuple[str, str]]
    emergency: list

    @classmethod
    def unknown(cls, form: ReportForm) -> _Place:
        posted = form.category.raw_data or []
        lift = form.lift.raw_data or []
        return cls(
            None,
            "",
            "",
            None,
            [(value, value) for value in posted[:1]],
            [(value, value) for value in lift[:1]],
            [],
        )

    def label(self, _locale=None) -> str:
        return self.title

    @property
    def community(self) -> _Place:
        return self

    def display_name(self, _locale=None) -> str:
        return self.community_name


def _find_place(code: str, form: ReportForm):
    """Returns the entrance's _Place, a refusal page, or the already-made ticket's
    confirmation (the same form sent twice, or the same report sent again after
    Back, whatever submission key the browser restored)."""
    known = find_entrance_code(code)
    refusal = _refuse(known)
    if refusal is not None:
        return refusal
    existing = _ticket_for_submission(form.submission_key.data)
    if existing is None:
        existing = _ticket_for_resubmission(code, form)
    if existing is not None:
        return _submitted(existing)
    entrance = known.entrance
    locale = current_locale()
    return _Place(
        entrance_id=entrance.id,
        title=entrance.label(locale),
        community_name=entrance.community.display_name(locale),
        service_phone=entrance.community.service_phone,
        category_choices=_category_choices(_categories()),
        lift_choices=_lift_choices(entrance),
        emergency=_emergency(entrance),
    )


def _refuse(known):
    """Returns the page for an unknown or retired sticker code, else None."""
    if known is None:
        return render_template("resident/unknown_code.html"), 404
    g.timezone = zone_name(known.entrance.community)
    entrance = known.entrance
    if entrance.retired_at is not None:
        # The admin retired the place itself (a gate closed for good, ...).
        return render_template("resident/retired_place.html", entrance=entrance), 410
    if known.retired_at is not None:
        return render_template("resident/replaced_code.html", entrance=entrance), 410
    return None


def _category_choices(categories: list[Category]) -> list[tuple[str, str]]:
    return [(c.slug, c.display_name(current_locale())) for c in categories]


def _lift_choices(entrance: Entrance) -> list[tuple[str, str]]:
    return [(str(lift.id), lift.label()) for lift in entrance.lifts]


def _emergency(entrance: Entrance) -> list:
    """Returns the numbers a resident in danger at the entrance may call now."""
    return emergency_numbers(entrance.community, entrance.lifts)


def _report_again(form, place: _Place, limit: int, uploads=None, away=False):
    """Shows the form again with everything the resident gave; 503 if the database
    was away (the photos are kept too), else 422."""
    form.category.choices = place.category_choices
    form.lift.choices = place.lift_choices
    if uploads is None:
        uploads = PhotoUploads(form.kept_photos.data, limit, deferred=True)
        if not form.csrf_token.errors and form.validate():
            uploads.take(request.files.getlist("photos"))
    form.kept_photos.data = uploads.token()
    if form.submission_key.errors:
        form.submission_key.data = uuid.uuid4().hex
    if form.phone.raw_data:
        # As typed: validation wrote it as +86…, which the resident never typed.
        form.phone.data = form.phone.raw_data[0]
    notice = None
    if away:
        notice = _l(
            "We could not save your report just now. Everything you gave, photos "
            "included, is kept: please press Send again in a minute."
        )
    page = render_template(
        "resident/report.html",
        form=form,
        entrance=place,
        emergency=place.emergency,
        photo_errors=[] if away else uploads.errors,
        kept=uploads.previews(),
        accept=ACCEPT_ATTRIBUTE,
        notice=notice,
    )
    return page, 503 if away else 422


def _report_too_large(code: str):
    """Answers a post over the size or part limits with the form and a message."""
    with reading():
        known = find_entrance_code(code)
        refusal = _refuse(known)
        if refusal is not None:
            return refusal
        form = ReportForm(formdata=None)
        form.category.choices = _category_choices(_categories())
        form.lift.choices = _lift_choices(known.entrance)
        form.submission_key.data = uuid.uuid4().hex
        config = current_app.config
        notice = _l(
            "The photos were too large or too many to send together (at most "
            "%(n)s photos, %(mb)s MB in all). Please choose again and send.",
            n=int(config["PHOTOS_PER_TICKET"]),
            mb=f"{int(config['MAX_CONTENT_LENGTH']) / 1048576:.0f}",
        )
        page = render_template(
            "resident/report.html",
            form=form,
            entrance=known.entrance,
            emergency=_emergency(known.entrance),
            kept=[],
            photo_errors=[],
            accept=ACCEPT_ATTRIBUTE,
            notice=notice,
        )
    return page, 413


def _open(entrance_id: int, form: ReportForm, uploads: PhotoUploads) -> _Filed | None:
    """Writes the ticket and its photo rows in one short transaction; returns its
    number and key (None if the same form's other post made it)."""
    db.session.rollback()  # whatever began before, this transaction writes
    entrance = db.session.get(
        Entrance,
        entrance_id,
        options=(orm.joinedload(Entrance.community), orm.joinedload(Entrance.building)),
    )
    category = None
    if form.category.data:
        category = db.session.scalar(
            sa.select(Category).where(Category.slug == form.category.data)
        )
    lift = None
    if form.lift.data:
        lift = db.session.get(Lift, int(form.lift.data))
        if lift is not None and lift.entrance_id != entrance.id:
            lift = None
    danger = declared(form.danger.data)
    report = lifecycle.Report(
        entrance=entrance,
        spot=form.spot.data or "",
        description=form.description.data,
        category=category,
        reporter_name=form.name.data or None,
        reporter_phone=form.phone.data or None,
        reporter_locale=current_locale(),
        submission_key=form.submission_key.data or None,
        declared_danger=danger.slug if danger else None,
        lift=lift,
    )
    actor = lifecycle.Actor(ActorType.RESIDENT, Channel.QR, name=form.name.data or None)
    try:
        ticket = lifecycle.open_ticket(report, actor)
        uploads.attach(ticket, "report")
        filed = _Filed(ticket.number, ticket.resident_key)
        db.session.commit()
    except IntegrityError:
        # The same form was submitted twice at once; the other request won.
        db.session.rollback()
        return None
    return filed


def _ticket_for_submission(key: str | None) -> Ticket | None:
    if not key or len(key) > 64:
        return None
    return db.session.scalar(sa.select(Ticket).where(Ticket.submission_key == key))


SESSION_REPORTS = "sent_reports"
#: How long the same report from the same browser gives back the same ticket.
RESUBMIT_WINDOW = timedelta(hours=2)


def _report_fingerprint(code: str, form: ReportForm, spot: bool = True) -> str:
    """Returns a digest of what the resident typed and chose (not the photos, not
    the keys a restored page may have changed); without the spot if not ``spot``."""
    parts = [
        code.upper(),
        " ".join((form.description.data or "").split()),
        " ".join((form.spot.data or "").split()) if spot else "",
        form.category.data or "",
        form.danger.data or "",
        form.lift.data or "",
        # the digits as typed: validation rewrites the number (E.164) afterwards
        "".join(ch for ch in (form.phone.raw_data or [""])[0] if ch.isdigit()),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _remember_report(code: str, form: ReportForm, ticket: Ticket | _Filed) -> None:
    """Remembers in the resident's session which ticket a report became."""
    sent = [
        entry
        for entry in session.get(SESSION_REPORTS, [])
        if time.time() - entry[2] < RESUBMIT_WINDOW.total_seconds()
    ]
    sent.append(
        [
            _report_fingerprint(code, form),
            ticket.number,
            time.time(),
            _report_fingerprint(code, form, spot=False),
        ]
    )
    session[SESSION_REPORTS] = sent[-10:]


def _ticket_for_resubmission(code: str, form: ReportForm) -> Ticket | None:
    """Returns the ticket this browser already made of the same report, if recent.

    A page restored by Back keeps the description but not the spot (the field
    takes no autofill): sent again with the spot empty, it matches a report of
    the same words from any spot (an outside tester got a second ticket)."""
    fingerprint = _report_fingerprint(code, form)
    loose = None if form.spot.data else _report_fingerprint(code, form, spot=False)
    for digest, number, sent_at, *rest in reversed(session.get(SESSION_REPORTS, [])):
        same = digest == fingerprint or (loose is not None and rest == [loose])
        if same and time.time() - sent_at < RESUBMIT_WINDOW.total_seconds():
            return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
    return None


def _submitted(ticket: Ticket | _Filed):
    _keep_key(ticket)
    return finish_upload(url_for("resident.received", number=ticket.number))


def _keep_key(ticket: Ticket | _Filed) -> None:
    """Keeps the ticket's private key in the resident's own (signed, HttpOnly)
    session cookie, so every link and the language toggle keep their actions."""
    mine = session.get(SESSION_TICKETS, {})
    if mine.get(ticket.number) == ticket.resident_key:
        return
    mine.pop(ticket.number, None)
    mine[ticket.number] = ticket.resident_key
    session[SESSION_TICKETS] = dict(list(mine.items())[-20:])


def _is_mine(ticket: Ticket | None) -> bool:
    """Returns whether this browser reported the ticket itself (its key is kept
    in the session): a second report of one's own problem is held with one's own
    first, not with a neighbour's (outside tester)."""
    if ticket is None:
        return False
    return session.get(SESSION_TICKETS, {}).get(ticket.number) == ticket.resident_key


def _known_key(ticket: Ticket) -> str | None:
    """Returns the private key from the link (remembered from then on) or from the
    session; None when neither holds the right one."""
    key = request.values.get("k")
    if has_resident_key(ticket, key):
        _keep_key(ticket)
        return key
    kept = session.get(SESSION_TICKETS, {}).get(ticket.number)
    return kept if has_resident_key(ticket, kept) else None


def _ticket_or_404(number: str) -> Ticket:
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number.upper()))
    if ticket is None:
        abort(404)
    g.timezone = zone_name(ticket.community)
    return ticket


@bp.get("/t/<number>/received")
def received(number: str):
    """Confirms a submission: the number, large, and the links to follow it."""
    ticket = _ticket_or_404(number)
    key = session.get(SESSION_TICKETS, {}).get(ticket.number)
    if key != ticket.resident_key:
        return redirect(url_for("resident.track", number=ticket.number))
    private_url = url_for(
        "resident.track", number=ticket.number, k=ticket.resident_key, _external=False
    )
    # A report held in a group (并单) sent nothing of its own: the page says so.
    group = db.session.get(Ticket, ticket.group_of_id) if ticket.group_of_id else None
    return render_template(
        "resident/received.html",
        ticket=ticket,
        group=group,
        group_is_mine=_is_mine(group),
        public_url=current_app.config["PUBLIC_URL"],
        private_url=private_url,
        danger=danger_of(ticket),
    )


def _lifts_of(ticket: Ticket) -> list:
    """Returns the lift the resident named, else the entrance's lifts."""
    if ticket.lift:
        return [ticket.lift]
    return ticket.entrance.lifts if ticket.entrance else []


@dataclass(frozen=True)
class Danger:
    """What a page shows a resident whose report is in danger: the numbers to
    call now and what the card above them says."""

    numbers: list
    lift_entrapment: bool
    lift_line: bool  # the lift (or the community) has an emergency line
    gas: bool
    #: a heavy leak or flooding: what to keep away from, and the valve
    flood: bool = False
    #: help was due on site and has not come: the card says so, and for someone
    #: trapped in a lift, to call the fire brigade (danger_while_waiting)
    late: bool = False


def danger_of(ticket: Ticket) -> Danger | None:
    """Returns the numbers to call now for a ticket in danger, else None: the
    named lift's first for someone trapped in a lift, the gas company's first for
    a smell of gas, the lifts' only where the report is about a lift."""
    if ticket.entrance is None:
        return None
    entrapment = is_lift_entrapment(ticket)
    said = words_say_danger(ticket)
    lifts = _lifts_of(ticket)
    if entrapment:
        numbers = emergency_numbers(ticket.community, lifts, lifts_first=True)
    elif ticket.declared_danger:
        about_lift = ticket.category is not None and ticket.category.slug == "lift"
        numbers = emergency_numbers(
            ticket.community,
            lifts,
            gas_first=ticket.declared_danger == "gas",
            with_lifts=about_lift,
            service_first=ticket.declared_danger == "flood",
        )
    elif said is not None:  # no chip, but the words say gas, sparks or fire
        numbers = emergency_numbers(
            ticket.community, gas_first=said == "gas", with_lifts=False
        )
    else:
        return None
    if not numbers:
        return None
    return Danger(
        numbers=numbers,
        lift_entrapment=entrapment,
        lift_line=entrapment and bool(lift_numbers(ticket.community, lifts)),
        gas="gas" in (ticket.declared_danger, said),
        flood=ticket.declared_danger == "flood",
    )


def danger_while_waiting(ticket: Ticket, group: Ticket | None = None) -> Danger | None:
    """Returns the ticket's danger until someone is on site (for the ticket, or
    the group it is handled with): a resident who comes back to a report in
    danger, or a neighbour who finds it, sees the numbers to call first."""
    handled = group or ticket
    if handled.status not in WORKING_STATUSES or handled.on_site_at is not None:
        return None
    if any(event.action == "arrive" for event in handled.events):
        return None  # someone came: a "not fixed" after that is no emergency call
    danger = danger_of(ticket)
    if danger is not None and _on_site_missed(handled, utcnow()):
        danger = replace(danger, late=True)
    return danger


def _on_site_missed(ticket: Ticket, now: datetime) -> bool:
    """Returns whether the ticket's on-site deadline has passed with nobody there
    (a paused clock has not passed: its deadline moves when the work goes on)."""
    due = ticket.on_site_due_at
    return (
        due is not None
        and now >= due
        and ticket.paused_at is None
        and ticket.on_site_at is None
    )


@bp.get("/t/<number>")
def track(number: str):
    """Shows a ticket's progress; with the private key, also the resident's actions."""
    ticket = _ticket_or_404(number)
    return _track_page(ticket)


def _track_page(
    ticket: Ticket,
    not_fixed_form=None,
    rating_form=None,
    uploads=None,
    photo_form=None,
    not_sent: str | None = None,
):
    key = _known_key(ticket)
    owner = key is not None
    room = int(current_app.config["PHOTOS_PER_TICKET"]) - len(ticket.report_photos)
    # A report held in or merged into a group (并单) is handled with its ticket.
    together = ticket.group_of_id or ticket.duplicate_of_id
    group = db.session.get(Ticket, together) if together else None
    promise = what_next(group or ticket)
    if group is not None and promise is not None and promise.kind == "confirm":
        promise = None  # the group's reporter confirms; this page says it is done
    return render_template(
        "resident/track.html",
        ticket=ticket,
        owner=owner,
        group_is_mine=owner and _is_mine(group),
        key=key if owner else None,
        action_form=ResidentActionForm(k=key),
        not_fixed_form=not_fixed_form or NotFixedForm(k=key),
        rating_form=rating_form or RatingForm(k=key),
        photo_form=photo_form or AddPhotoForm(k=key),
        can_add_photo=owner and room > 0 and ticket.status in WORKING_STATUSES,
        photo_errors=uploads.errors if uploads else [],
        kept=uploads.previews() if uploads else [],
        accept=ACCEPT_ATTRIBUTE,
        followed=request.args.get("followed") == "1",
        reopened=request.args.get("reopened") == "1",
        added=request.args.get("added") == "1",
        not_sent=not_sent,
        low_rating_stars=lifecycle.LOW_RATING_STARS,
        call_back_by=_call_back_by(ticket) if ticket.rating is not None else None,
        promise=promise,
        group=group,
        refresh=(group or ticket).status in WORKING_STATUSES,
        danger=danger_while_waiting(ticket, group),
    )


def _call_back_by(ticket: Ticket) -> datetime | None:
    """Returns by when the community is to call the resident back about a low
    rating: the deadline its follow-up call was opened with (its event says)."""
    for event in reversed(ticket.events):
        data = event.data or {}
        if event.action == "follow_up_opened" and data.get("reason") == "low_rating":
            try:
                return datetime.fromisoformat(data["due_at"])
            except (KeyError, TypeError, ValueError):
                return None
    return None


@dataclass(frozen=True)
class Promise:
    """What the resident can expect next, as times on their clock (一次性告知)."""

    #: contact_and_on_site | on_site | unassigned | answer_late | late | working |
    #: confirm | paused
    kind: str
    contact_by: str = ""
    on_site_by: str = ""
    #: while paused (挂起): until when, and why (the contractor's words)
    paused_until: str = ""
    pause_reason: str = ""


def what_next(ticket: Ticket, now: datetime | None = None) -> Promise | None:
    """Returns the next promise to the resident from the ticket's own deadlines
    (so a handover or a pause that moves them moves what the page says)."""
    now = now or utcnow()
    if ticket.paused_at is not None and ticket.status in WORKING_STATUSES:
        pause = lifecycle.open_pause(ticket)
        if pause is not None:
            return Promise(
                "paused",
                paused_until=_clock_time(pause.resume_expected_at, now),
                pause_reason=pause.reason,
            )
    if ticket.status is TicketStatus.ON_SITE:
        return Promise("working")
    if ticket.status is TicketStatus.COMPLETED:
        return Promise("confirm")
    if ticket.status not in WORKING_STATUSES:
        return None
    on_site = _clock_time(ticket.on_site_due_at, now)
    if _on_site_missed(ticket, now):
        # A time already past is no promise: the page says help is late, and
        # who knows (every on-site ladder alerts the officer at the deadline).
        return Promise("late", on_site_by=on_site)
    if ticket.contractor_id is None and on_site:
        # No route named a company (or the officer took the job back): nobody
        # will "contact you" until the officer chooses one.
        return Promise("unassigned", on_site_by=on_site)
    contact = ""
    if ticket.accepted_at is None:
        contact = _clock_time(ticket.contact_due_at, now)
        if contact and ticket.contact_due_at <= now:
            # Unanswered past its window and no backup took it (a backup gets a
            # fresh window): the officer has been alerted by the contact ladder.
            return Promise("answer_late", contact, on_site)
    if contact and on_site:
        return Promise("contact_and_on_site", contact, on_site)
    if on_site:
        return Promise("on_site", on_site_by=on_site)
    return None


def _clock_time(value: datetime | None, now: datetime) -> str:
    """Returns a deadline as the resident reads it: HH:MM today, else MM-DD HH:MM."""
    if value is None:
        return ""
    local, today = local_time(value), local_time(now)
    return local.strftime("%H:%M" if local.date() == today.date() else "%m-%d %H:%M")


def init_app(app: Flask) -> None:
    """Registers the resident pages; their forms carry their own CSRF field.

    The global CSRF check is lifted for this blueprint so that an expired token
    becomes a form error that keeps everything typed, not a bare 400 page.
    """
    csrf.exempt(bp)
    app.register_blueprint(bp)


def has_resident_key(ticket: Ticket, key: str | None) -> bool:
    """Returns whether ``key`` is the ticket's private resident key."""
    return bool(key) and hmac.compare_digest(
        key.encode("utf-8", "surrogatepass"), ticket.resident_key.encode()
    )


def _resident_actor(ticket: Ticket) -> lifecycle.Actor:
    return lifecycle.Actor(
        ActorType.RESIDENT, Channel.TRACKING, name=ticket.reporter_name
    )


def _private(ticket: Ticket, anchor: str = ""):
    """Redirects the key's holder to the tracking page; the key stays in their
    session, not in the address bar."""
    _keep_key(ticket)
    target = url_for("resident.track", number=ticket.number)
    return redirect(target + anchor, code=303)


@bp.errorhandler(lifecycle.TransitionNotAllowed)
def changed_meanwhile(refused: lifecycle.TransitionNotAllowed):
    """The ticket changed before the resident's action took effect (an officer, the
    contractor, the automatic closing): the tracking page shows it as it is now."""
    db.session.rollback()
    return _private(refused.ticket)


@bp.post("/t/<number>/confirm")
def confirm(number: str):
    """The resident confirms the repair: the ticket closes; a rating is asked next."""
    ticket = _ticket_or_404(number)
    form = ResidentActionForm()
    if not form.validate_on_submit() or not has_resident_key(ticket, form.k.data):
        abort(403)
    if lifecycle.can(ticket, "close"):
        lifecycle.transition(
            ticket,
            "close",
            _resident_actor(ticket),
            data={"confirmed_by_resident": True},
        )
        db.session.commit()
    return _private(ticket, "#rate")


@bp.post("/t/<number>/not-fixed")
@checks_own_input
def not_fixed(number: str):
    """The resident says it is not fixed: the ticket reopens and goes out again."""
    ticket = _ticket_or_404(number)
    form = NotFixedForm()
    if not has_resident_key(ticket, form.k.data):
        abort(403)
    if ticket.status is not TicketStatus.COMPLETED:
        return _not_sent(ticket, form)
    uploads = PhotoUploads(
        form.kept_photos.data, int(current_app.config["PHOTOS_PER_TICKET"])
    )
    uploads.take(request.files.getlist("photos"))
    if not form.validate_on_submit() or uploads.errors:
        form.kept_photos.data = uploads.token()
        return _track_page(ticket, not_fixed_form=form, uploads=uploads), 422
    # The ticket's lock before the photos' rows: two posts at once would otherwise
    # each hold a share of it (the photos' foreign key) and wait for the other.
    lifecycle.lock(ticket)
    if ticket.status is not TicketStatus.COMPLETED:
        db.session.rollback()
        return _not_sent(ticket, form)
    uploads.attach(ticket, "reopen")
    lifecycle.transition(
        ticket,
        "reopen",
        _resident_actor(ticket),
        note=form.note.data,
        data={"by_resident": True, "photos": len(uploads.kept)},
    )
    db.session.commit()
    _keep_key(ticket)
    return finish_upload(url_for("resident.track", number=ticket.number, reopened=1))


def _not_sent(ticket: Ticket, form: NotFixedForm):
    """Answers a "not fixed" the ticket no longer asks for: it was confirmed (in
    another tab, or at the same moment) and closed, or is being worked on again.
    A closed ticket is not reopened by the resident: a problem that comes back is
    a new report (an outside tester reopened a confirmed, rated ticket this way).
    What the resident wrote is shown back to them, not lost."""
    if ticket.status in WORKING_STATUSES:
        return _private(ticket)  # already going out again: nothing more to send
    _keep_key(ticket)
    return _track_page(ticket, not_sent=form.note.data or ""), 409


@bp.post("/t/<number>/photos")
@limiter.limit(lambda: current_app.config["SUBMIT_RATE_LIMIT"])
@checks_own_input
def add_photos(number: str):
    """The resident adds a photo to their open report (the officer may have asked)."""
    ticket = _ticket_or_404(number)
    form = AddPhotoForm()
    if not has_resident_key(ticket, form.k.data):
        abort(403)
    if ticket.status not in WORKING_STATUSES:
        return _private(ticket)
    have = len(ticket.report_photos)
    room = int(current_app.config["PHOTOS_PER_TICKET"]) - have
    uploads = PhotoUploads(
        form.kept_photos.data, max(room, 0), deferred=True, already=have
    )
    valid = form.validate_on_submit()
    if valid:
        uploads.take(request.files.getlist("photos"))
    uploads.require_one(_l("Please choose a photo."))
    if not valid or uploads.errors:
        form.kept_photos.data = uploads.token()
        return _track_page(ticket, photo_form=form, uploads=uploads), 422
    uploads.attach(ticket, "report")
    lifecycle.record_event(
        ticket,
        "photo_added",
        _resident_actor(ticket),
        data={"photos": len(uploads.kept)},
    )
    db.session.commit()
    _keep_key(ticket)
    return finish_upload(url_for("resident.track", number=ticket.number, added=1))


@bp.post("/t/<number>/rate")
@checks_own_input
def rate(number: str):
    """The resident rates a confirmed repair, once."""
    ticket = _ticket_or_404(number)
    form = RatingForm()
    if not has_resident_key(ticket, form.k.data):
        abort(403)
    if ticket.rating is not None or ticket.status is not TicketStatus.CLOSED:
        return _private(ticket)
    if not form.validate_on_submit():
        return _track_page(ticket, rating_form=form), 422
    lifecycle.rate(
        ticket,
        int(form.stars.data),
        _resident_actor(ticket),
        comment=form.comment.data or None,
    )
    db.session.commit()
    return _private(ticket, "#rate")


SESSION_FOLLOWED = "followed"


@bp.get("/t/<number>/confirm")
@bp.get("/t/<number>/not-fixed")
@bp.get("/t/<number>/photos")
@bp.get("/t/<number>/rate")
def action_reopened(number: str):
    """An action's address opened again (a reload, a restored tab, Back after an
    error page): the tracking page, not a 405 (outside tester)."""
    return redirect(url_for("resident.track", number=number), code=303)


@bp.route("/t/<number>/follow", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBMIT_RATE_LIMIT"], methods=["POST"])
@checks_own_input
def follow(number: str):
    """ "This is my problem too": the resident is counted on an existing ticket."""
    ticket = _ticket_or_404(number)
    form = FollowForm()
    followed = session.get(SESSION_FOLLOWED, [])
    if not lifecycle.is_open(ticket):
        return redirect(url_for("resident.track", number=ticket.number))
    if form.validate_on_submit():
        phone = form.phone.data or None
        known = phone is not None and any(f.phone == phone for f in ticket.followers)
        if ticket.number not in followed and not known:
            db.session.add(
                TicketFollower(
                    ticket_id=ticket.id, phone=phone, locale=current_locale()
                )
            )
            lifecycle.record_event(
                ticket,
                "me_too",
                lifecycle.Actor(ActorType.RESIDENT, Channel.QR),
                data={"with_phone": phone is not None},
            )
            db.session.commit()
            session[SESSION_FOLLOWED] = (followed + [ticket.number])[-50:]
        return redirect(
            url_for("resident.track", number=ticket.number, followed=1), code=303
        )
    status = 422 if request.method == "POST" else 200
    return render_template(
        "resident/follow.html",
        ticket=ticket,
        form=form,
        already=ticket.number in followed,
        danger=danger_while_waiting(ticket),
    ), status


def reported_nearby(entrance: Entrance, days: int) -> list[Ticket]:
    """Returns open tickets reported at the entrance in the last ``days`` days."""
    since = utcnow() - timedelta(days=days)
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(
                Ticket.entrance_id == entrance.id,
                Ticket.status.in_(WORKING_STATUSES),
                Ticket.created_at >= since,
            )
            .order_by(Ticket.created_at.desc())
            .limit(5)
        )
    )
