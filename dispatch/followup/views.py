"""The follow-up calls on the board: the "待回访" section, the task on the ticket
page (the resident's number masked, the rating's comment), recording a call."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, g, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from dispatch.board import views as board
from dispatch.board.auth import staff_only, ticket_or_404
from dispatch.followup import tasks as follow_up_tasks
from dispatch.followup.forms import OUTCOME_LABELS, CallForm
from dispatch.followup.tasks import TaskDone, open_tasks, record_call
from dispatch.models import FollowUpTask
from repair import lifecycle
from repair.db import db
from repair.models import (
    ActorType,
    Building,
    Channel,
    Entrance,
    Rating,
    Ticket,
    TicketEvent,
)
from repair.security import checks_own_input

bp = Blueprint("followup", __name__, url_prefix="/board")

SECTION_TITLE = _l("Follow-up calls due")
REASON_LABELS = {
    "low_rating": _l("Low rating"),
    "reopened": _l("Not fixed, twice"),
}


def section(args, now: datetime) -> dict:
    """Returns the open tasks the board's filters select, soonest deadline first,
    with their full count and how many are overdue."""
    base = board.filtered(
        sa.select(FollowUpTask.id)
        .join(Ticket, FollowUpTask.ticket_id == Ticket.id)
        .where(FollowUpTask.done_at.is_(None)),
        args,
    )
    selected = base.add_columns(FollowUpTask.due_at.label("due_at")).subquery()
    count, overdue = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(
                sa.func.sum(sa.case((selected.c.due_at <= now, 1), else_=0)), 0
            ),
        ).select_from(selected)
    ).one()
    ids = db.session.scalars(
        base.order_by(FollowUpTask.due_at, FollowUpTask.id).limit(board.SECTION_LIMIT)
    ).all()
    tasks = []
    if ids:
        loaded = {
            task.id: task
            for task in db.session.scalars(
                sa.select(FollowUpTask)
                .where(FollowUpTask.id.in_(ids))
                .options(
                    selectinload(FollowUpTask.ticket)
                    .selectinload(Ticket.entrance)
                    .selectinload(Entrance.building)
                    .selectinload(Building.community),
                    selectinload(FollowUpTask.ticket).selectinload(Ticket.category),
                )
            )
        }
        tasks = [loaded[task_id] for task_id in ids]
    ratings = _ratings([task.ticket_id for task in tasks])
    return {
        "name": "follow-up",
        "title": SECTION_TITLE,
        "count": int(count),
        "overdue": int(overdue),
        "tasks": tasks,
        "ratings": ratings,
    }


def _ratings(ticket_ids: list[int]) -> dict[int, Rating]:
    if not ticket_ids:
        return {}
    return {
        rating.ticket_id: rating
        for rating in db.session.scalars(
            sa.select(Rating).where(Rating.ticket_id.in_(ticket_ids))
        )
    }


def tasks_of(ticket: Ticket) -> list[dict]:
    """Returns the ticket's tasks for its page: each with its form (as posted, if
    this request's post came back with errors), the rating and the resident's last
    "没有修好" (their words)."""
    posted = g.get("follow_up_form")
    rating = _ratings([ticket.id]).get(ticket.id)
    reopen = db.session.scalar(
        sa.select(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == "reopen",
            TicketEvent.actor_type == ActorType.RESIDENT,
        )
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return [
        {
            "task": task,
            "form": posted[1] if posted and posted[0] == task.id else CallForm(),
            "rating": rating,
            "reopen": reopen,
        }
        for task in open_tasks(ticket.id)
    ]


def _officer() -> lifecycle.Actor:
    return lifecycle.Actor(
        ActorType.OFFICER,
        Channel.BOARD,
        current_user.id,
        current_user.display_name or current_user.username,
    )


@bp.post("/t/<number>/follow-up/<int:task_id>")
@staff_only
@checks_own_input
def record(number: str, task_id: int):
    """Records a follow-up call: reached with its outcome (done), or not reached
    (the attempt is counted and the task stays open)."""
    ticket = ticket_or_404(number)
    task = db.session.get(FollowUpTask, task_id)
    if task is None or task.ticket_id != ticket.id:
        return board._refuse(ticket, _l("Nothing was changed."))
    form = CallForm()
    if not form.validate_on_submit():
        g.follow_up_form = (task.id, form)
        return board._ticket_page(ticket, 422)
    try:
        record_call(
            task,
            _officer(),
            reached=form.is_reached,
            outcome=form.chosen_outcome(),
            note=form.note.data or None,
        )
    except TaskDone:
        db.session.rollback()
        return board._refuse(
            ticket, _l("Nothing was recorded: this follow-up call was already done.")
        )
    db.session.commit()
    if form.is_reached:
        flash(_l("Follow-up call recorded; the task is done."), "ok")
    else:
        flash(_l("Attempt recorded; the task stays open."), "ok")
    return redirect(url_for("board.ticket", number=ticket.number) + "#follow-up", 303)


def init_app(app: Flask) -> None:
    """Registers the call's form post and the templates' helpers."""
    app.register_blueprint(bp)
    follow_up_tasks.init_app(app)
    app.jinja_env.globals["follow_up_section"] = section
    app.jinja_env.globals["follow_up_tasks"] = tasks_of
    app.jinja_env.globals["FOLLOW_UP_REASONS"] = REASON_LABELS
    app.jinja_env.globals["FOLLOW_UP_OUTCOMES"] = OUTCOME_LABELS
