"""The contractor's job page (/j/<token>): see the job, accept, arrive, complete."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l

from dispatch.assignment import work
from dispatch.contractor.forms import (
    DECLINE_REASONS,
    ActionForm,
    CompleteForm,
    DeclineForm,
)
from dispatch.contractor.tokens import assignment_id_from
from dispatch.models import Assignment
from repair import lifecycle
from repair.db import db, utcnow
from repair.i18n import zone_name
from repair.models import Channel
from repair.photos.uploads import ACCEPT_ATTRIBUTE, PhotoUploads, finish_upload
from repair.security import csrf

bp = Blueprint("contractor", __name__)


class LinkProblem(Exception):
    """The link cannot show a job: tampered, moved to someone else, or expired."""

    def __init__(self, kind: str, assignment: Assignment | None = None):
        self.kind = kind
        self.assignment = assignment


#: Why an assignment ended, as the job link's page tells it.
ENDED_KINDS = {
    "declined": "declined",
    "withdrawn": "withdrawn",
    "reassigned": "moved",
    "undeliverable": "moved",
}


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
        raise LinkProblem(ENDED_KINDS.get(assignment.end_reason, "moved"), assignment)
    if now > assignment.created_at + current_app.config["JOB_LINK_MAX_AGE"]:
        raise LinkProblem("too_old", assignment)
    if not lifecycle.is_open(ticket):
        ended = ticket.closed_at or ticket.updated_at
        if now > ended + current_app.config["JOB_LINK_TTL"]:
            raise LinkProblem("expired", assignment)
    return assignment


def next_deadline(assignment: Assignment) -> tuple[str, datetime] | None:
    """Returns which clock the contractor is racing now, and its deadline."""
    ticket = assignment.ticket
    if lifecycle.can(ticket, "accept") and ticket.contact_due_at:
        return "contact", ticket.contact_due_at
    if lifecycle.can(ticket, "arrive") and ticket.on_site_due_at:
        return "on_site", ticket.on_site_due_at
    return None


@bp.errorhandler(LinkProblem)
def link_problem(problem: LinkProblem):
    status = 404 if problem.kind == "invalid" else 410
    return (
        render_template("contractor/link_problem.html", problem=problem),
        status,
    )


@bp.errorhandler(work.JobMoved)
@bp.errorhandler(lifecycle.TransitionNotAllowed)
def changed_meanwhile(_refused: Exception):
    """Someone else acted on the job first (a decline, the backup, an officer):
    nothing of this tap is kept; the job page says how things stand now."""
    db.session.rollback()
    return _done(request.view_args["token"])


@bp.get("/j/<token>")
def job(token: str):
    """Shows the job with the actions its state allows."""
    assignment = load_assignment(token)
    return _page(assignment, token)


def _page(
    assignment: Assignment, token: str, complete_form=None, photo_errors=(), kept=()
):
    status = (
        422
        if complete_form is not None and (photo_errors or complete_form.errors)
        else 200
    )
    return (
        render_template(
            "contractor/job.html",
            assignment=assignment,
            ticket=assignment.ticket,
            token=token,
            deadline=next_deadline(assignment),
            now=utcnow(),
            action_form=ActionForm(),
            decline_form=DeclineForm(),
            complete_form=complete_form or CompleteForm(),
            photo_errors=photo_errors,
            kept=kept,
            accept=ACCEPT_ATTRIBUTE,
            can=lambda action: lifecycle.can(assignment.ticket, action),
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
def arrive(token: str):
    """Marks the contractor on site: one tap, safe to repeat."""
    return _one_tap(token, work.arrive)


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


@bp.post("/j/<token>/complete")
def complete(token: str):
    """Completes the job with photos; a rejected photo keeps what was typed."""
    assignment = load_assignment(token)
    form = CompleteForm()
    uploads = PhotoUploads(
        form.kept_photos.data, int(current_app.config["PHOTOS_PER_TICKET"])
    )
    if lifecycle.can(assignment.ticket, "complete"):
        uploads.take(request.files.getlist("photos"))
    fields_ok = form.validate_on_submit()
    uploads.require_one(_l("Please add at least one photo of the finished repair."))
    if not lifecycle.can(assignment.ticket, "complete"):
        return _done(token)  # already completed (a repeated tap) or not yet accepted
    if not fields_ok or uploads.errors:
        form.kept_photos.data = uploads.token()
        return _page(assignment, token, form, uploads.errors, uploads.previews())
    work.complete(
        assignment, Channel.JOB_LINK, form.worker_name.data, form.note.data, uploads
    )
    db.session.commit()
    return _done(token)


def init_app(app: Flask) -> None:
    """Registers the job pages; their forms check CSRF themselves (errors in-form)."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
