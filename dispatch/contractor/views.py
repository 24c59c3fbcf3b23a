"""The contractor's job page (/j/<token>): see the job, accept, arrive, complete."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l

from dispatch.assignment import storms, work
from dispatch.assignment.rework import rework_of
from dispatch.assignment.routes import current_assignment
from dispatch.contractor.forms import (
    DECLINE_REASONS,
    LOCAL_INPUT,
    PAUSE_REASONS,
    ActionForm,
    ArrivalForm,
    CompleteForm,
    DeclineForm,
    PauseForm,
)
from dispatch.contractor.record import MAX_LINES, RepairRecord, read_record
from dispatch.contractor.tokens import (
    assignment_id_from,
    code_owner,
    job_token,
)
from dispatch.models import Assignment, EndReason
from repair import lifecycle
from repair.dangers import danger_in_words, declared
from repair.db import db, utcnow
from repair.i18n import local_time, zone_name
from repair.models import Channel, Ticket, TicketStatus
from repair.photos.uploads import (
    ACCEPT_ATTRIBUTE,
    PhotoUploads,
    finish_upload,
    is_attached,
)
from repair.security import checks_own_input, csrf, limiter

bp = Blueprint("contractor", __name__)

#: The expected resume time the pause form suggests (the contractor changes it).
PAUSE_SUGGESTED = timedelta(hours=4)


class LinkProblem(Exception):
    """The link cannot show a job: tampered, moved to someone else, or expired."""

    def __init__(self, kind: str, assignment: Assignment | None = None):
        self.kind = kind
        self.assignment = assignment


def load_assignment(token: str, now: datetime | None = None) -> Assignment:
    """Returns the link's assignment, or raises LinkProblem saying why not.

    A link works while its assignment does: not after it ended (declined, handed
    on, withdrawn), not JOB_LINK_TTL after the ticket closed, and never longer than
    JOB_LINK_MAX_AGE after it was sent.
    """
    assignment_id = assignment_id_from(token)
    assignment = db.session.get(Assignment, assignment_id) if assignment_id else None
    if assignment is None:
        raise LinkProblem("invalid")
    ticket = assignment.ticket
    g.timezone = zone_name(ticket.community)
    g.preferred_locale = assignment.contractor.language
    now = now or utcnow()
    if not assignment.is_current:
        raise LinkProblem("moved", assignment)  # the page says why (withdrawal)
    if now > assignment.created_at + current_app.config["JOB_LINK_MAX_AGE"]:
        raise LinkProblem("too_old", assignment)
    if not lifecycle.is_open(ticket):
        ended = ticket.closed_at or ticket.updated_at
        if now > ended + current_app.config["JOB_LINK_TTL"]:
            raise LinkProblem("expired", assignment)
    return assignment


def withdrawal(assignment: Assignment) -> str:
    """Says why an ended assignment is no longer the contractor's job: rejected,
    duplicate, backup (the contact deadline passed), reassigned (by the officer),
    declined or undeliverable."""
    ticket = assignment.ticket
    if assignment.end_reason is EndReason.WITHDRAWN:
        return "duplicate" if ticket.status is TicketStatus.DUPLICATE else "rejected"
    if assignment.end_reason is EndReason.DECLINED:
        return "declined"
    if assignment.end_reason is EndReason.UNDELIVERABLE:
        return "undeliverable"
    successor = db.session.scalar(
        sa.select(Assignment)
        .where(Assignment.ticket_id == ticket.id, Assignment.id > assignment.id)
        .order_by(Assignment.id)
        .limit(1)
    )
    return (
        "backup"
        if successor is not None and successor.role == "backup"
        else ("reassigned")
    )


def _sent_again(assignment: Assignment) -> Assignment | None:
    """Returns the job's current assignment where it went back to the same
    contractor (a resident's "not fixed", a dispatch after a decline): their old
    link opens it, instead of saying the job went to someone else."""
    current = current_assignment(assignment.ticket)
    if (
        current is not None
        and current.id > assignment.id
        and current.contractor_id == assignment.contractor_id
    ):
        return current
    return None


def next_deadline(assignment: Assignment) -> tuple[str, datetime] | None:
    """Returns which clock the contractor is racing now, and its deadline."""
    ticket = assignment.ticket
    if lifecycle.can(ticket, "accept") and ticket.contact_due_at:
        return "contact", ticket.contact_due_at
    if (
        lifecycle.can(ticket, "arrive")
        and ticket.on_site_due_at
        and not ticket.is_clock_paused("on_site")
    ):
        return "on_site", ticket.on_site_due_at
    return None


@bp.errorhandler(LinkProblem)
def link_problem(problem: LinkProblem):
    status = 404 if problem.kind == "invalid" else 410
    why = None
    original = None
    if problem.kind == "moved":
        again = _sent_again(problem.assignment)
        if again is not None:
            return redirect(url_for("contractor.job", token=job_token(again.id)))
        why = withdrawal(problem.assignment)
        duplicate_of = problem.assignment.ticket.duplicate_of_id
        original = db.session.get(Ticket, duplicate_of) if duplicate_of else None
    return (
        render_template(
            "contractor/link_problem.html",
            problem=problem,
            why=why,
            original=original.number if original else "",
        ),
        status,
    )


@bp.errorhandler(work.JobMoved)
@bp.errorhandler(lifecycle.TransitionNotAllowed)
def changed_meanwhile(_refused: Exception):
    """Someone else acted on the job first (a decline, the backup, an officer):
    nothing of this tap is kept; the job page says how things stand now."""
    db.session.rollback()
    return _done(request.view_args["token"])


@bp.get("/j")
@limiter.limit("30 per minute")
def enter_code():
    """Opens a job from the short code an SMS carries, typed by the contractor."""
    code = request.args.get("code", "").strip()
    if code and (target := _code_target(code) or _ticket_target(code)):
        return redirect(target)
    status = 404 if code else 200
    return render_template("contractor/enter_code.html", code=code), status


@bp.get("/j/<token>")
@limiter.limit(
    "30 per minute",
    exempt_when=lambda: "-" in (request.view_args or {}).get("token", "-"),
)
def job(token: str):
    """Shows the job with the actions its state allows (a short code redirects)."""
    if "-" not in token and (target := _code_target(token)):
        return redirect(target)
    assignment = load_assignment(token)
    return _page(assignment, token)


def _code_target(code: str) -> str | None:
    # A job code opens the job; a resident's code opens their own tracking page.
    row = code_owner(code)
    if row is None:
        return None
    if row.assignment_id is not None:
        return url_for("contractor.job", token=job_token(row.assignment_id))
    ticket = db.session.get(Ticket, row.ticket_id)
    if ticket is None:
        return None
    return url_for("resident.track", number=ticket.number, k=ticket.resident_key)


def _ticket_target(number: str) -> str | None:
    # A ticket number typed on /j opens its public tracking page (for followers).
    ticket = db.session.scalar(
        sa.select(Ticket).where(Ticket.number == "".join(number.split()).upper())
    )
    return url_for("resident.track", number=ticket.number) if ticket else None


def _page(
    assignment: Assignment,
    token: str,
    complete_form=None,
    photo_errors=(),
    kept=(),
    pause_form=None,
    notice=None,
    *,
    record: RepairRecord | None = None,
    extra_lines: int = 0,
    kept_before=(),
    arrival_form=None,
    arrival_errors=(),
    arrival_kept=(),
):
    record = record or RepairRecord()
    status = (
        422
        if (
            complete_form is not None
            and (photo_errors or complete_form.errors or record.errors)
        )
        or (pause_form is not None and pause_form.errors)
        or (arrival_form is not None and (arrival_errors or arrival_form.errors))
        else 409
        if notice is not None
        else 200
    )
    now = utcnow()
    if pause_form is None:
        pause_form = PauseForm(formdata=None)
        suggested = local_time(now + PAUSE_SUGGESTED)
        pause_form.resume_at.data = suggested.strftime(LOCAL_INPUT)
    return (
        render_template(
            "contractor/job.html",
            assignment=assignment,
            ticket=assignment.ticket,
            danger=declared(assignment.ticket.declared_danger),
            danger_in_words=danger_in_words(assignment.ticket),
            token=token,
            deadline=next_deadline(assignment),
            rework=rework_of(assignment.ticket)
            if assignment.role == "reopen"
            else None,
            now=now,
            action_form=ActionForm(),
            decline_form=DeclineForm(),
            pause_form=pause_form,
            pause=lifecycle.open_pause(assignment.ticket),
            last_pause=(assignment.ticket.pauses or [None])[-1],
            can_pause=lifecycle.can_request_pause(assignment.ticket),
            earliest=local_time(now).strftime(LOCAL_INPUT),
            complete_form=complete_form or CompleteForm(),
            photo_errors=photo_errors,
            kept=kept,
            kept_before=kept_before,
            record=record,
            lines=record.form_lines(extra_lines),
            max_lines=MAX_LINES,
            arrival_form=arrival_form or ArrivalForm(formdata=None),
            arrival_errors=arrival_errors,
            arrival_kept=arrival_kept,
            asks_location=assignment.ticket.community.asks_arrival_location,
            accept=ACCEPT_ATTRIBUTE,
            can=lambda action: lifecycle.can(assignment.ticket, action),
            notice=notice,
            group=storms.members(assignment.ticket),
            raised_by=storms.raised_by(assignment.ticket),
        ),
        status,
    )


def _done(token: str):
    return finish_upload(url_for("contractor.job", token=token))


def _one_tap(token: str, act) -> object:
    assignment = load_assignment(token)
    if ActionForm().validate_on_submit():
        act(assignment, Channel.JOB_LINK)
        db.session.commit()
    return _done(token)


@bp.post("/j/<token>/accept")
def accept(token: str):
    """Accepts the job: one tap, safe to repeat."""
    return _one_tap(token, work.accept)


@bp.post("/j/<token>/arrive")
@checks_own_input
def arrive(token: str):
    """Marks the contractor on site at the server's time, with a photo of the place
    (processed by the photo job after the commit) or the reason there is none; a
    mistake keeps what was typed and the photo taken. Safe to repeat."""
    assignment = load_assignment(token)
    form = ArrivalForm()
    if not lifecycle.can(assignment.ticket, "arrive"):
        return _done(token)  # a repeated tap, or the job moved on meanwhile
    # A photo taken again replaces the one kept from a post that came back.
    taken = [f for f in request.files.getlist("arrival_photo") if is_attached(f)]
    uploads = PhotoUploads(None if taken else form.kept_photos.data, 1, deferred=True)
    uploads.take(taken)
    fields_ok = form.validate_on_submit()
    if not uploads.kept and not form.no_photo_reason.data:
        uploads.require_one(
            _l(
                "Please take a photo of the place (not of people), "
                "or say why you cannot."
            )
        )
    if not fields_ok or uploads.errors:
        form.kept_photos.data = uploads.token()
        return _page(
            assignment,
            token,
            arrival_form=form,
            arrival_errors=uploads.errors,
            arrival_kept=uploads.previews(),
        )
    evidence = work.Arrival(
        photos=uploads if uploads.kept else None,
        no_photo_reason=None if uploads.kept else form.no_photo_reason.data,
        location=form.location(),
    )
    work.arrive(assignment, Channel.JOB_LINK, evidence=evidence)
    db.session.commit()
    return _done(token)


@bp.post("/j/<token>/decline")
def decline(token: str):
    """Declines the job; the backup contractor gets it at once."""
    assignment = load_assignment(token)
    form = DeclineForm()
    if form.validate_on_submit():
        reason = dict(DECLINE_REASONS)[form.reason.data]
        detail = f"{reason}: {form.detail.data}" if form.detail.data else str(reason)
        work.decline(assignment, Channel.JOB_LINK, detail)
        db.session.commit()
    return _done(token)


#: Said when a pause is asked for a job that is no longer waiting for its work.
NOT_PAUSABLE = _l(
    "Nothing was sent: this job can no longer be paused (it was completed, handed "
    "over or changed meanwhile). This is how it is now."
)


@bp.post("/j/<token>/pause")
def pause(token: str):
    """Asks the officer to pause the on-site clock, with a reason and an expected
    time to go on; a mistake keeps what was typed."""
    assignment = load_assignment(token)
    form = PauseForm()
    now = utcnow()
    if not lifecycle.can_request_pause(assignment.ticket):
        if lifecycle.open_pause(assignment.ticket) is not None:
            return _done(token)  # a repeated tap: the request is there already
        # The job moved on meanwhile (completed, handed over, reopened): say so
        # rather than drop the request without a word.
        return _page(assignment, token, notice=NOT_PAUSABLE)
    fields_ok = form.validate_on_submit()
    when = form.resume_time(g.timezone, now) if form.resume_at.data else None
    if not fields_ok or when is None:
        return _page(assignment, token, pause_form=form)
    reason = dict(PAUSE_REASONS).get(form.reason.data, PAUSE_REASONS[-1][1])
    # "Waiting for parts · the pump comes tomorrow": the pages put their own
    # "Why:" before it, so the reason carries no label or colon of its own.
    said = " · ".join(str(part) for part in (reason, form.detail.data) if part)
    cause = form.reason.data if form.reason.data in dict(PAUSE_REASONS) else "other"
    work.request_pause(assignment, Channel.JOB_LINK, said, when, now, cause=cause)
    db.session.commit()
    return _done(token)


@bp.post("/j/<token>/resume")
def resume(token: str):
    """Goes on with the job: ends the pause or withdraws the request."""
    return _one_tap(token, work.resume)


@bp.post("/j/<token>/complete")
@checks_own_input
def complete(token: str):
    """Completes the job with photos and the repair record; a mistake keeps what
    was typed, the material lines and the photos. Without JavaScript the buttons
    that add or remove a material line post here too and get the form back."""
    assignment = load_assignment(token)
    form = CompleteForm()
    limit = int(current_app.config["PHOTOS_PER_TICKET"])
    uploads = PhotoUploads(form.kept_photos.data, limit)
    before = PhotoUploads(form.kept_before.data, limit)
    if not lifecycle.can(assignment.ticket, "complete"):
        return _done(token)  # already completed (a repeated tap) or not yet accepted
    uploads.take(request.files.getlist("photos"))
    before.take(request.files.getlist("before_photos"))
    record = read_record(request.form)
    fields_ok = form.validate_on_submit()
    editing = _edit_lines(record)
    if editing is None:
        uploads.require_one(_l("Please add at least one photo of the finished repair."))
    photo_errors = [*before.errors, *uploads.errors]
    if editing is not None or not fields_ok or photo_errors or record.errors:
        form.kept_photos.data = uploads.token()
        form.kept_before.data = before.token()
        if editing is not None:  # not sent yet: no complaints about the rest
            for field in form:
                field.errors = []
            record.errors = []
        return _page(
            assignment,
            token,
            form,
            photo_errors,
            uploads.previews(),
            record=record,
            extra_lines=editing or 0,
            kept_before=before.previews(),
        )
    work.complete(
        assignment,
        Channel.JOB_LINK,
        form.worker_name.data,
        form.note.data,
        uploads,
        record=record,
        before=before,
    )
    db.session.commit()
    return _done(token)


def _edit_lines(record: RepairRecord) -> int | None:
    """Applies a press of "add a line" or "remove" (a post without JavaScript) and
    returns how many blank lines to add; None when the form was sent to finish."""
    if "add_line" in request.form:
        return 1
    removed = request.form.get("remove_line", "")
    if removed.isdigit() and int(removed) < len(record.lines):
        del record.lines[int(removed)]
        return 0
    return None


def init_app(app: Flask) -> None:
    """Registers the job pages; their forms check CSRF themselves (errors in-form)."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
