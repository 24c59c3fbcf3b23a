"""The repair officer's dispatch board: the queue, a ticket's page and its actions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from dispatch.assignment import storms
from dispatch.assignment.routes import OFFICER_ROLE, end_assignment, route_for
from dispatch.board.auth import (
    community_ids,
    require_role,
    scoped,
    staff_only,
    ticket_or_404,
    visible_communities,
)
from dispatch.board.forms import (
    AssignForm,
    DuplicateForm,
    FileForm,
    NoteForm,
    PauseDecisionForm,
    ReasonForm,
    SimpleForm,
    TriageForm,
    contractors_for,
)
from dispatch.board.nav import add_board_link
from dispatch.models import Assignment, EndReason, OutboxMessage
from dispatch.sla import escalation
from repair import lifecycle, privacy
from repair.dangers import DANGERS, danger_in_words, declared
from repair.db import db, utcnow
from repair.i18n import current_locale, format_local, local_time
from repair.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    WORKING_STATUSES,
    ActorType,
    Building,
    Category,
    Channel,
    Contractor,
    Entrance,
    PauseState,
    PlaceKind,
    Role,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketPause,
    TicketStatus,
    Urgency,
)
from repair.photos.uploads import ACCEPT_ATTRIBUTE, PhotoUploads, finish_upload
from repair.security import bounded_int

bp = Blueprint("board", __name__, url_prefix="/board")
S = TicketStatus

#: In the order of what presses most (a phone shows them one under another).
SECTIONS = ("breached", "urgent", "triage", "general", "paused", "confirm")
SECTION_TITLES = {
    "paused": _l("Paused"),
    "triage": _l("Needs triage"),
    "urgent": _l("Urgent"),
    "general": _l("General"),
    "breached": _l("Breached or escalated"),
    "confirm": _l("Waiting for the resident"),
    "ended": _l("Closed, rejected or duplicate"),
}
#: Cards shown per section; the rest are counted and found with filters.
SECTION_LIMIT = 30


REASON_KINDS = {
    "declared": _l("resident reports"),
    "urgent": _l("danger"),
    "negated": _l("negated"),
    "resolved": _l("already fixed"),
    "hedged": _l("hedged"),
    "model": _l("learned"),
    "model-veto": _l("learned: not urgent"),
    "hint": _l("resident's choice"),
    "category": _l("about"),
    "group": _l("urgent report in the group"),
}


HINT_OUTCOMES = {"kept": _l("kept"), "overridden": _l("not followed")}


def reasons_text(reasons: list[str] | None, limit: int = 4) -> str:
    """Renders classifier reasons ("urgent:lift:困人") for people: "danger: 困人"."""
    shown = []
    for reason in (reasons or [])[:limit]:
        kind, _, rest = reason.partition(":")
        category, _, detail = rest.partition(":")
        label = REASON_KINDS.get(kind)
        if label is None:
            shown.append(reason)
        elif kind == "hint":
            named = db.session.scalar(
                sa.select(Category).where(Category.slug == category)
            )
            name = named.display_name(current_locale()) if named else category
            outcome = HINT_OUTCOMES.get(detail, detail)
            shown.append(f"{label}: {name} ({outcome})")
        elif kind == "model":
            # the words that weighed, without their weights (outside tester:
            # "栏杆 0.44, 卡在 0.44" on a card read as a machine's log)
            words = [part.rsplit(" ", 1)[0] for part in detail.split(", ") if part]
            joiner = "、" if current_locale().startswith("zh") else ", "
            shown.append(f"{label}: {joiner.join(words) or category}")
        elif kind == "declared":
            # the resident's chip, in the reader's language ("有人被困" is stored)
            danger = next((d for d in DANGERS.values() if d.words == detail), None)
            shown.append(f"{label}: {danger.label if danger else detail}")
        else:
            shown.append(f"{label}: {detail or category}")
    return " · ".join(shown)


def short_time(value: datetime) -> str:
    """Returns a local time as HH:MM today, else MM-DD HH:MM (cards are narrow)."""
    text = format_local(value)
    return text[11:] if text[:10] == format_local(utcnow())[:10] else text[5:]


def missed_times(
    due_at: datetime, met: datetime, short: bool = False
) -> tuple[str, str]:
    """Returns a deadline met late and when it was met, as the board shows them;
    with the seconds when the minutes alone read the same (outside tester:
    "截止 04:45，实际 04:45" under 已超时, for 04:45:06 and 04:45:52)."""
    show = short_time if short else format_local
    due_text, met_text = show(due_at), show(met)
    if due_text == met_text:
        due_text += local_time(due_at).strftime(":%S")
        met_text += local_time(met).strftime(":%S")
    return due_text, met_text


def last_event(ticket: Ticket, action: str) -> TicketEvent | None:
    """Returns the ticket's latest event of this action (e.g. the arrival)."""
    return next((e for e in reversed(ticket.events) if e.action == action), None)


def timeline(events: list[TicketEvent]) -> list[TicketEvent]:
    """Returns a ticket's events as its timeline shows them: one line per handover
    to the backup (the missed deadline and the dispatch it caused are one step)."""
    shown = []
    for index, event in enumerate(events):
        following = events[index + 1] if index + 1 < len(events) else None
        if (
            event.action == "escalated"
            and "dispatch_backup" in (event.data or {}).get("actions", [])
            and following is not None
            and following.action == "dispatch"
            and (following.data or {}).get("reason") == "no_contact"
        ):
            continue
        shown.append(event)
    return shown


def section_condition(section: str, now: datetime):
    """Returns the SQL condition of a board section (each ticket is in one).

    A ticket with any clock breached or any rung of the ladder taken is in
    "breached", whatever its triage (the officer and supervisor were alerted by
    SMS: the board says the same). Urgent tickets are in "urgent" as soon as the
    classifier says so, confirmed or not; "triage" holds the rest unconfirmed."""
    paused = Ticket.paused_at.is_not(None)
    # A report held in a storm group (并单) is shown with its group's proposal.
    own = Ticket.group_of_id.is_(None)
    if section == "paused":
        return sa.and_(Ticket.status.in_(WORKING_STATUSES), own, paused)
    # A paused ticket shows under "paused" only (已挂起): its clock stands still.
    working = sa.and_(Ticket.status.in_(WORKING_STATUSES), own, sa.not_(paused))
    confirmed = Ticket.urgency_confirmed_at.is_not(None)
    late = sa.or_(Ticket.next_due_at < now, Ticket.escalated_at.is_not(None))
    on_time = sa.not_(late)
    urgent = Ticket.urgency == Urgency.URGENT
    if section == "breached":
        return sa.and_(working, late)
    if section == "urgent":
        return sa.and_(working, on_time, urgent)
    if section == "triage":
        return sa.and_(
            working,
            on_time,
            sa.not_(confirmed),
            sa.or_(Ticket.urgency.is_(None), sa.not_(urgent)),
        )
    if section == "general":
        return sa.and_(working, on_time, confirmed, Ticket.urgency == Urgency.GENERAL)
    if section == "ended":
        return Ticket.status.in_(CLOSED_STATUSES)
    return Ticket.status == S.COMPLETED


#: Orders tickets by their danger, declared by the resident or found in the
#: words (an outside tester's 电梯困人了 with no chip sat below a broken lamp):
#: someone trapped first, then any other danger now (gas, sparks, a flood, a
#: fall), then the rest.
DANGER_FIRST = sa.case(
    (
        sa.or_(Ticket.declared_danger == "trapped", Ticket.found_danger == "trapped"),
        0,
    ),
    (
        sa.or_(Ticket.declared_danger.is_not(None), Ticket.found_danger.is_not(None)),
        1,
    ),
    else_=2,
)


def sections_for(args) -> tuple[str, ...]:
    """Returns the board's sections; a search by number or for an ended status
    also lists the tickets that are no longer on the board."""
    if args.get("q", "").strip() or args.get("status") in {
        s.value for s in CLOSED_STATUSES
    }:
        return (*SECTIONS, "ended")
    return SECTIONS


def filtered(query: sa.Select, args) -> sa.Select:
    """Applies the board's filters (community, building, category, contractor,
    status, number) from the query string."""
    query = scoped(query)
    community = bounded_int(args.get("community"), 1)
    if community:
        query = query.where(Ticket.community_id == community)
    where = args.get("building") or ""
    place = (
        bounded_int(where.removeprefix("place-"), 1)
        if where.startswith("place-")
        else None
    )
    if place:
        query = query.where(Ticket.entrance_id == place)
    building = None if place else bounded_int(where, 1)
    if building:
        query = query.where(
            Ticket.entrance_id.in_(
                sa.select(Entrance.id).where(Entrance.building_id == building)
            )
        )
    if args.get("category"):
        query = query.where(
            Ticket.category_id.in_(
                sa.select(Category.id).where(Category.slug == args["category"][:64])
            )
        )
    contractor = bounded_int(args.get("contractor"), 1)
    if contractor:
        query = query.where(Ticket.contractor_id == contractor)
    if args.get("status") in {s.value for s in S}:
        query = query.where(Ticket.status == S(args["status"]))
    if args.get("pause") == "requested":
        query = query.where(Ticket.id.in_(_pause_requested()))
    search = args.get("q", "").strip().upper()[:64]
    if search:
        # `%` and `_` are what the number says, not wildcards.
        query = query.where(Ticket.number.contains(search, autoescape=True))
    return query


def _pause_requested() -> sa.Select:
    """The tickets whose contractor asked to pause and wait for the officer."""
    return sa.select(TicketPause.ticket_id).where(
        TicketPause.state == PauseState.REQUESTED
    )


def pause_requests(args) -> int:
    """Returns how many tickets on the board (as filtered) wait for a decision on
    a pause (挂起待批)."""
    return db.session.scalar(
        filtered(
            sa.select(sa.func.count(Ticket.id)).where(
                Ticket.status.in_(OPEN_STATUSES), Ticket.id.in_(_pause_requested())
            ),
            args,
        )
    )


def reopened_ids(ticket_ids: list[int]) -> set[int]:
    """Returns which of the tickets were ever reopened (to flag them on the board)."""
    if not ticket_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(TicketEvent.ticket_id).where(
                TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.action == "reopen"
            )
        )
    )


def load_sections(args, now: datetime) -> list[dict]:
    """Returns each section with its most pressing tickets and its full count.

    The sections never overlap, so one grouped query counts them all; the cards
    of every section are then loaded together.
    """
    names = sections_for(args)
    statuses = list(OPEN_STATUSES)
    if "ended" in names:
        statuses.extend(CLOSED_STATUSES)
    conditions = {name: section_condition(name, now) for name in names}
    section_of = sa.case(*[(condition, name) for name, condition in conditions.items()])
    counts = dict(
        db.session.execute(
            filtered(
                sa.select(section_of, sa.func.count(Ticket.id)).where(
                    # The sections' statuses first, by the status index: not the
                    # whole year (unless a search asks for ended tickets too).
                    Ticket.status.in_(statuses),
                    section_of.is_not(None),
                ),
                args,
            ).group_by(section_of)
        ).all()
    )
    chosen = {}
    for name, condition in conditions.items():
        order = (
            (Ticket.updated_at.desc(),)
            if name in ("confirm", "ended", "paused")
            # Someone trapped heads their section, whatever falls due first, then
            # the other dangers declared: the cards a tablet's first screen must
            # show (outside testers).
            else (DANGER_FIRST, Ticket.next_due_at.asc().nulls_last(), Ticket.id)
        )
        chosen[name] = db.session.scalars(
            filtered(sa.select(Ticket.id).where(condition), args)
            .order_by(*order)
            .limit(SECTION_LIMIT)
        ).all()
    wanted = [ticket_id for ids in chosen.values() for ticket_id in ids]
    loaded = (
        {
            ticket.id: ticket
            for ticket in db.session.scalars(
                sa.select(Ticket)
                .where(Ticket.id.in_(wanted))
                .options(
                    selectinload(Ticket.entrance).selectinload(Entrance.building),
                    selectinload(Ticket.entrance).selectinload(Entrance.community),
                    selectinload(Ticket.category),
                    selectinload(Ticket.lift),
                    selectinload(Ticket.contractor),
                    selectinload(Ticket.photos),
                    selectinload(Ticket.followers),
                )
            )
        }
        if wanted
        else {}
    )
    sections = [
        {
            "name": name,
            "title": SECTION_TITLES[name],
            "count": counts.get(name, 0),
            "tickets": [loaded[ticket_id] for ticket_id in chosen[name]],
        }
        for name in names
    ]
    shown = [t.id for section in sections for t in section["tickets"]]
    reopened = reopened_ids(shown)
    asked = (
        set(
            db.session.scalars(
                _pause_requested().where(TicketPause.ticket_id.in_(shown))
            )
        )
        if shown
        else set()
    )
    for section in sections:
        section["reopened"] = reopened
        section["pause_requested"] = asked
    return sections


def _filter_choices() -> dict:
    allowed = community_ids()
    buildings = sa.select(Building).order_by(Building.community_id, Building.sort_order)
    common_areas = (
        sa.select(Entrance)
        .where(Entrance.kind == PlaceKind.COMMON_AREA)
        .order_by(Entrance.community_id, Entrance.sort_order, Entrance.id)
    )
    contractors = sa.select(Contractor).order_by(Contractor.name)
    if allowed is not None:
        buildings = buildings.where(Building.community_id.in_(allowed))
        common_areas = common_areas.where(Entrance.community_id.in_(allowed))
        contractors = contractors.where(Contractor.serving(allowed))
    return {
        "communities": visible_communities(),
        "buildings": db.session.scalars(buildings).all(),
        "common_areas": db.session.scalars(common_areas).all(),
        "categories": db.session.scalars(
            sa.select(Category).order_by(Category.sort_order)
        ).all(),
        "contractors": db.session.scalars(contractors).all(),
    }


@bp.get("")
@staff_only
def board():
    """The queue, in the order the officer must act."""
    now = utcnow()
    choices = _filter_choices()
    prefix = choices["communities"][0].ticket_prefix if choices["communities"] else "BX"
    return render_template(
        "board/board.html",
        sections=load_sections(request.args, now),
        pause_requests=pause_requests(request.args),
        groups=storms.proposals(community_ids()),
        choices=choices,
        example_number=f"{prefix}-{local_time(now):%Y%m%d}-0001",
        now=now,
    )


@bp.get("/cards")
@staff_only
def cards():
    """The sections alone, polled by the board page to stay live without reloads."""
    now = utcnow()
    return render_template(
        "board/_sections.html",
        sections=load_sections(request.args, now),
        pause_requests=pause_requests(request.args),
        groups=storms.proposals(community_ids()),
        now=now,
    )


def _officer() -> lifecycle.Actor:
    return lifecycle.Actor(
        ActorType.OFFICER,
        Channel.BOARD,
        current_user.id,
        current_user.display_name or current_user.username,
    )


@bp.get("/t/<number>")
@staff_only
def ticket(number: str):
    """A ticket's full record and every action the officer can take on it."""
    ticket = ticket_or_404(number)
    return _ticket_page(ticket)


def _ticket_page(ticket: Ticket, status: int = 200, revealed: bool = False):
    categories = db.session.scalars(
        sa.select(Category).order_by(Category.sort_order)
    ).all()
    triage = TriageForm(
        urgency=ticket.urgency.value if ticket.urgency else "general",
        category=ticket.category.slug if ticket.category else "other",
    )
    triage.category.choices = [
        SelectChoice(c.slug, c.display_name()) for c in categories
    ]
    assign = AssignForm(ticket)
    route = route_for(ticket)
    assign.contractor.choices = [
        SelectChoice(str(c.id), _contractor_label(c, route))
        for c in contractors_for(ticket.community_id)
    ]
    if ticket.contractor_id:
        assign.contractor.data = str(ticket.contractor_id)
    messages = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.ticket_id == ticket.id)
        .order_by(OutboxMessage.id)
    ).all()
    duplicates = db.session.scalars(
        sa.select(Ticket).where(
            Ticket.duplicate_of_id == ticket.id, Ticket.group_of_id.is_(None)
        )
    ).all()
    original = (
        db.session.get(Ticket, ticket.duplicate_of_id)
        if ticket.duplicate_of_id
        else None
    )
    group = db.session.get(Ticket, ticket.group_of_id) if ticket.group_of_id else None
    members = storms.members(ticket)
    return (
        render_template(
            "board/ticket.html",
            ticket=ticket,
            triage_form=triage,
            assign_form=assign,
            note_form=NoteForm(),
            reason_form=ReasonForm(),
            duplicate_form=DuplicateForm(),
            simple_form=SimpleForm(),
            messages=messages,
            duplicates=duplicates,
            duplicate_of_number=original.number if original else None,
            group=group,
            members=members,
            member_photos={m.number: m.report_photos for m in members},
            waiting=len(storms.held(ticket)),
            # splitting out of a group whose repair is done needs the officer's word
            members_split_confirm=storms.repair_done(ticket),
            raised_by=storms.raised_by(ticket),
            split_confirm=storms.repair_done(group or original),
            assignments=db.session.scalars(
                sa.select(Assignment)
                .where(Assignment.ticket_id == ticket.id)
                .order_by(Assignment.id)
            ).all(),
            next_due=ticket.next_deadline(),
            arrival=last_event(ticket, "arrive"),
            pause=lifecycle.open_pause(ticket),
            pause_form=PauseDecisionForm(),
            now=utcnow(),
            can=lambda action: lifecycle.can(ticket, action),
            is_open=lifecycle.is_open(ticket),
            revealed=revealed,
        ),
        status,
    )


@bp.post("/t/<number>/reveal")
@staff_only
def reveal(number: str):
    """Shows the resident's full number and name once, recorded as an audit event."""
    ticket = ticket_or_404(number)
    if not SimpleForm().validate_on_submit():
        return _back(ticket)
    privacy.reveal(ticket, _officer())
    db.session.commit()
    response = make_response(_ticket_page(ticket, revealed=True))
    response.headers["Cache-Control"] = "no-store"
    return response


def _contractor_label(contractor: Contractor, route) -> str:
    if route is not None and contractor.id == route.primary_contractor_id:
        return str(_l("%(name)s (primary)", name=contractor.name))
    if route is not None and contractor.id == route.backup_contractor_id:
        return str(_l("%(name)s (backup)", name=contractor.name))
    return contractor.name


SPLIT_AFTER_REPAIR = _l(
    "Not split out: the group's repair is already done. Tick 'This is another "
    "problem, to be dispatched separately' if it is."
)
HELD = _l("This report is held in a group: merge it or split it out first.")


def _is_held(ticket: Ticket) -> bool:
    """Returns whether the report waits in a storm group (it has no job of its own)."""
    return ticket.group_of_id is not None and ticket.status is S.NEW


def _back(ticket: Ticket, message=None):
    if message:
        flash(message, "ok")
    return redirect(url_for("board.ticket", number=ticket.number), code=303)


def _refuse(ticket: Ticket, message):
    flash(message, "error")
    return redirect(url_for("board.ticket", number=ticket.number), code=303)


@bp.errorhandler(lifecycle.PauseOutOfDate)
def pause_out_of_date(refused: lifecycle.PauseOutOfDate):
    """The request's expected time to go on passed while it waited for approval."""
    db.session.rollback()
    return _refuse(
        refused.ticket,
        _l(
            "Not approved: the contractor expected to go on at %(time)s, which has "
            "passed. Refuse the request (say why); they can ask again with a new time.",
            time=format_local(refused.pause.resume_expected_at),
        ),
    )


@bp.errorhandler(lifecycle.TransitionNotAllowed)
def changed_meanwhile(refused: lifecycle.TransitionNotAllowed):
    """Another officer, the contractor or a job acted on the ticket first: nothing
    of this request is kept, and the officer sees the ticket as it is now."""
    db.session.rollback()
    return _refuse(
        refused.ticket,
        _l(
            "Nothing was done: the ticket's state does not allow that (it may have "
            "just changed). This is how it is now."
        ),
    )


#: Said to an officer who names a contractor of another community (a crafted
#: post, or a list shown before an administrator changed the contractor's scope).
NOT_SERVING = _l(
    "Nothing was sent: that contractor does not serve this ticket's community. "
    "Choose one from the list."
)


@bp.errorhandler(escalation.NotServing)
def not_serving(refused: escalation.NotServing):
    """A contractor outside the ticket's community reached the dispatch itself:
    nothing of this request is kept."""
    db.session.rollback()
    return _refuse(refused.ticket, NOT_SERVING)


@bp.post("/t/<number>/triage")
@staff_only
def triage(number: str):
    """Confirms or changes urgency and category; deadlines are recomputed."""
    ticket = ticket_or_404(number)
    form = TriageForm()
    if not form.validate_on_submit() or not lifecycle.is_open(ticket):
        return _refuse(ticket, _l("Nothing was changed."))
    if _is_held(ticket):
        return _refuse(ticket, HELD)
    category = db.session.scalar(
        sa.select(Category).where(Category.slug == form.category.data)
    )
    urgency = Urgency(form.urgency.data)
    now = utcnow()
    lifecycle.assess(
        ticket,
        urgency,
        _officer(),
        now,
        deadlines=escalation.deadlines_for(
            ticket, urgency.value, category=category, now=now
        ),
        category=category,
        confirmed=True,
    )
    db.session.commit()
    return _back(ticket, _l("Urgency confirmed; deadlines updated."))


@bp.post("/t/<number>/assign")
@staff_only
def assign(number: str):
    """Assigns or reassigns the ticket to an active contractor of its community."""
    ticket = ticket_or_404(number)
    form = AssignForm(ticket)
    valid = form.validate_on_submit()
    contractor = db.session.get(Contractor, bounded_int(form.contractor.data) or 0)
    if contractor is not None and not contractor.serves(ticket.community_id):
        return _refuse(ticket, NOT_SERVING)
    if not valid or contractor is None or not contractor.is_active:
        return _refuse(ticket, _l("Choose a contractor."))
    if not lifecycle.can(ticket, "dispatch") or _is_held(ticket):
        return _refuse(ticket, _l("This ticket cannot be assigned now."))
    if contractor.id == ticket.contractor_id and ticket.status is not S.NEW:
        return _back(ticket)
    # The contractor the officer chooses has a window of their own to accept, as
    # the backup has (outside tester: a job reassigned at 04:48 said "请04:48前接单"
    # and showed 刚刚超时 on first opening); never shorter than the one running.
    now = utcnow()
    fresh = escalation.fresh_contact_due(ticket, now)
    if fresh is not None and ticket.contact_due_at is not None:
        fresh = max(fresh, ticket.contact_due_at)
    escalation.dispatch_to(
        ticket,
        contractor,
        _officer(),
        now,
        role=OFFICER_ROLE,
        reason="officer",
        contact_due_at=fresh,
    )
    db.session.commit()
    return _back(ticket, _l("Sent to %(name)s.", name=contractor.name))


@bp.post("/t/<number>/note")
@staff_only
def note(number: str):
    """Adds an internal note to the timeline (residents do not see it)."""
    ticket = ticket_or_404(number)
    form = NoteForm()
    if form.validate_on_submit():
        lifecycle.record_event(ticket, "note", _officer(), note=form.note.data.strip())
        db.session.commit()
    return _back(ticket)


@bp.post("/t/<number>/pause/approve")
@staff_only
def approve_pause(number: str):
    """Approves the contractor's request: the on-site clock stops until it resumes."""
    ticket = ticket_or_404(number)
    form = PauseDecisionForm()
    if not form.validate_on_submit():
        return _refuse(ticket, _l("Nothing was changed."))
    lifecycle.approve_pause(ticket, _officer(), pause_id=form.seen_pause_id())
    db.session.commit()
    return _back(ticket, _l("Pause approved: the on-site clock stands still."))


@bp.post("/t/<number>/pause/refuse")
@staff_only
def refuse_pause(number: str):
    """Refuses the contractor's request: the clock runs on; they hear why by SMS."""
    ticket = ticket_or_404(number)
    form = PauseDecisionForm()
    if not form.validate_on_submit():
        if form.note.errors:
            message = _l("Not refused: the note is at most 200 characters.")
            return _refuse(ticket, message)
        return _refuse(ticket, _l("Nothing was changed."))
    lifecycle.refuse_pause(
        ticket,
        _officer(),
        note=(form.note.data or "").strip() or None,
        pause_id=form.seen_pause_id(),
    )
    db.session.commit()
    return _back(ticket, _l("Pause refused: the clock runs on."))


@bp.post("/t/<number>/pause/resume")
@staff_only
def resume_pause(number: str):
    """Ends the pause now: the clock goes on, its deadline moved by the time paused."""
    ticket = ticket_or_404(number)
    if not PauseDecisionForm().validate_on_submit():
        return _refuse(ticket, _l("Nothing was changed."))
    pause = lifecycle.open_pause(ticket)
    if pause is None or pause.state is not PauseState.ACTIVE:
        raise lifecycle.TransitionNotAllowed(ticket, "resume")
    lifecycle.resume(ticket, _officer(), how="officer")
    db.session.commit()
    return _back(ticket, _l("The clock runs again."))


@bp.post("/t/<number>/ask-photo")
@staff_only
def ask_photo(number: str):
    """Asks the resident by SMS for a photo; their private link lets them add it."""
    ticket = ticket_or_404(number)
    if not SimpleForm().validate_on_submit() or not ticket.reporter_phone:
        return _refuse(ticket, _l("The resident left no phone number."))
    if not lifecycle.is_open(ticket):
        return _refuse(ticket, _l("Nothing was changed."))
    lifecycle.record_event(ticket, "photo_requested", _officer())
    db.session.commit()
    return _back(ticket, _l("The resident was asked for a photo by SMS."))


@bp.post("/t/<number>/reject")
@staff_only
def reject(number: str):
    """Ends the ticket without work (spam, not our responsibility), with a reason."""
    ticket = ticket_or_404(number)
    form = ReasonForm()
    if not form.validate_on_submit() or not lifecycle.can(ticket, "reject"):
        return _refuse(ticket, _l("Give a reason to reject the ticket."))
    now = utcnow()
    end_assignment(ticket, EndReason.WITHDRAWN, now)
    lifecycle.transition(ticket, "reject", _officer(), now, note=form.reason.data)
    db.session.commit()
    return _back(ticket, _l("Ticket rejected."))


def _may_take_duplicates(original: Ticket) -> bool:
    """Returns whether other reports may be merged into this ticket: one that is
    handled (or was), not one itself merged elsewhere, held in a group or not
    accepted (a loop of duplicates would leave both problems unattended)."""
    return (
        original.status not in (TicketStatus.DUPLICATE, TicketStatus.REJECTED)
        and original.duplicate_of_id is None
        and original.group_of_id is None
    )


@bp.post("/t/<number>/duplicate")
@staff_only
def duplicate(number: str):
    """Marks the ticket a duplicate of another; both link to each other."""
    ticket = ticket_or_404(number)
    form = DuplicateForm()
    original = None
    if form.validate_on_submit():
        original = db.session.scalar(
            scoped(
                sa.select(Ticket).where(
                    Ticket.number == form.original.data.strip().upper()
                )
            )
        )
    if original is None or original.id == ticket.id:
        return _refuse(ticket, _l("No such ticket to merge into."))
    # Both rows locked, always in the same order: of two officers merging A into B
    # and B into A at the same moment, the second sees the first's merge.
    for row in sorted((ticket, original), key=lambda t: t.id):
        lifecycle.lock(row)
    if not lifecycle.can(ticket, "mark_duplicate"):
        return _refuse(ticket, _l("No such ticket to merge into."))
    if not _may_take_duplicates(original):
        return _refuse(
            ticket,
            _l(
                "Not merged: %(number)s is itself merged into another ticket, held "
                "in a group or not accepted. Merge into the ticket that is being "
                "handled.",
                number=original.number,
            ),
        )
    now = utcnow()
    end_assignment(ticket, EndReason.WITHDRAWN, now)
    lifecycle.transition(
        ticket,
        "mark_duplicate",
        _officer(),
        now,
        data={"original": original.number},
        duplicate_of_id=original.id,
    )
    lifecycle.record_event(
        original, "duplicate_linked", _officer(), now, data={"duplicate": ticket.number}
    )
    if ticket.reporter_phone and all(
        f.phone != ticket.reporter_phone for f in original.followers
    ):
        # The duplicate's resident now follows the original's progress.
        db.session.add(
            TicketFollower(
                ticket_id=original.id,
                phone=ticket.reporter_phone,
                locale=ticket.reporter_locale or "zh_CN",
                source_ticket_id=ticket.id,  # a split takes it back
            )
        )
    db.session.commit()
    return _back(ticket, _l("Merged into %(number)s.", number=original.number))


@bp.post("/t/<number>/merge")
@staff_only
def merge(number: str):
    """Merges the reports waiting in the ticket's group into it (并单)."""
    ticket = ticket_or_404(number)
    if not SimpleForm().validate_on_submit():
        return _refuse(ticket, _l("Nothing was changed."))
    merged = storms.merge_group(ticket, _officer(), utcnow())
    db.session.commit()
    if not merged:
        return _refuse(ticket, _l("No reports are waiting in this group."))
    return _back(ticket, _l("%(n)s reports merged into this ticket.", n=len(merged)))


@bp.post("/t/<number>/split")
@staff_only
def split(number: str):
    """Takes a wrongly grouped or merged report out: it is dispatched on its own."""
    ticket = ticket_or_404(number)
    if not SimpleForm().validate_on_submit() or not (
        _is_held(ticket) or ticket.status is S.DUPLICATE
    ):
        return _refuse(ticket, _l("This report is not in a group."))
    parent = db.session.get(Ticket, ticket.group_of_id or ticket.duplicate_of_id)
    if storms.repair_done(parent) and not request.form.get("another_problem"):
        # The group's repair is done: splitting out sends a new job for what may be
        # the pipe just repaired, so the officer says it is another problem.
        return _refuse(ticket, SPLIT_AFTER_REPAIR)
    storms.split_out(ticket, _officer(), utcnow())
    db.session.commit()
    return _back(ticket, _l("Split out: the report is dispatched on its own."))


@bp.get("/storms")
@require_role(Role.SUPERVISOR, Role.ADMIN)
def surges():
    """The district's surges: recent reports by community and category, with their
    groups (for staff who see several communities)."""
    hours = bounded_int(request.args.get("hours"), 1, 24 * 7) or 24
    return render_template(
        "board/storms.html",
        surges=storms.surges(community_ids(), storms.storm_since(utcnow(), hours)),
        groups=storms.proposals(community_ids()),
        hours=hours,
    )


@bp.post("/t/<number>/close")
@staff_only
def close(number: str):
    """Closes a completed ticket."""
    ticket = ticket_or_404(number)
    form = SimpleForm()
    if not form.validate_on_submit() or not lifecycle.can(ticket, "close"):
        return _refuse(ticket, _l("Only a completed ticket can be closed."))
    lifecycle.transition(ticket, "close", _officer(), note=form.note.data)
    db.session.commit()
    return _back(ticket, _l("Ticket closed."))


@bp.post("/t/<number>/reopen")
@staff_only
def reopen(number: str):
    """Reopens a completed or closed ticket; its clocks start again."""
    ticket = ticket_or_404(number)
    form = SimpleForm()
    if not form.validate_on_submit() or not lifecycle.can(ticket, "reopen"):
        return _refuse(ticket, _l("This ticket cannot be reopened."))
    lifecycle.transition(ticket, "reopen", _officer(), note=form.note.data or None)
    db.session.commit()
    return _back(ticket, _l("Ticket reopened and sent out again."))


@bp.route("/new", methods=["GET", "POST"])
@staff_only
def new_ticket():
    """Files a ticket for a resident who phoned or walked in (帮办)."""
    form = FileForm()
    entrances = db.session.scalars(
        scoped(
            sa.select(Entrance)
            .outerjoin(Entrance.building)
            .where(Entrance.retired_at.is_(None))
            .order_by(
                Entrance.community_id,
                Entrance.building_id.is_(None),
                Building.sort_order,
                Entrance.sort_order,
                Entrance.id,
            ),
            Entrance.community_id,
        )
    ).all()
    form.entrance.choices = [SelectChoice("", _l("Choose…"))] + [
        SelectChoice(str(e.id), e.label()) for e in entrances
    ]
    categories = db.session.scalars(
        sa.select(Category).order_by(Category.sort_order)
    ).all()
    form.category.choices = [SelectChoice("", "—")] + [
        SelectChoice(c.slug, c.display_name()) for c in categories
    ]
    uploads = PhotoUploads(
        form.kept_photos.data, int(current_app.config["PHOTOS_PER_TICKET"])
    )
    if request.method == "POST":
        uploads.take(request.files.getlist("photos"))
        entrance = next((e for e in entrances if str(e.id) == form.entrance.data), None)
        if form.validate_on_submit() and entrance is not None and not uploads.errors:
            report = lifecycle.Report(
                entrance=entrance,
                spot=(form.spot.data or "").strip(),
                description=form.description.data.strip(),
                category=next(
                    (c for c in categories if c.slug == form.category.data), None
                ),
                reporter_name=form.name.data or None,
                reporter_phone=form.phone.data or None,
                reporter_locale="zh_CN",
                urgency=Urgency(form.urgency.data) if form.urgency.data else None,
                declared_danger=(
                    form.danger.data if declared(form.danger.data) else None
                ),
            )
            actor = _officer()
            actor = lifecycle.Actor(
                actor.type, Channel(form.channel.data), actor.id, actor.name
            )
            ticket = lifecycle.open_ticket(report, actor)
            uploads.attach(ticket, "report")
            db.session.commit()
            if ticket.reporter_phone:
                flash(
                    _l(
                        "Ticket %(number)s filed. Read the number to the caller: an "
                        "SMS with it and their tracking link is on its way.",
                        number=ticket.number,
                    ),
                    "ok",
                )
            else:
                flash(_l("Ticket %(number)s filed.", number=ticket.number), "ok")
            return finish_upload(url_for("board.ticket", number=ticket.number))
        form.kept_photos.data = uploads.token()
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "board/new.html",
            form=form,
            photo_errors=uploads.errors,
            kept=uploads.previews(),
            accept=ACCEPT_ATTRIBUTE,
        ),
        status,
    )


def init_app(app: Flask) -> None:
    """Registers the board and its template helpers."""
    app.register_blueprint(bp)
    add_board_link(app, "board.surges", _l("Storms"), (Role.SUPERVISOR, Role.ADMIN))
    app.jinja_env.globals["SECTION_TITLES"] = SECTION_TITLES
    app.jinja_env.filters["reasons_text"] = reasons_text
    app.jinja_env.globals["DANGERS"] = DANGERS
    app.jinja_env.globals["danger_in_words"] = danger_in_words
    app.jinja_env.filters["timeline"] = timeline
    app.jinja_env.filters["fromiso"] = datetime.fromisoformat
    app.jinja_env.filters["shorttime"] = short_time
    app.jinja_env.globals["missed_times"] = missed_times
