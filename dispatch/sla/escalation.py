"""The SLA clock at work: per-ticket rung jobs, the ladder's actions, AB backup."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Flask, current_app

from dispatch.assignment.routes import (
    OFFICER_ROLE,
    backup_for,
    current_assignment,
    may_take,
    open_assignment,
)
from dispatch.models import Assignment, SlaPolicy, SlaStep
from dispatch.sla import clock as sla
from dispatch.worker.queues import (
    SLA_QUEUE_NAME,
    cancel_jobs,
    get_queue,
    job,
    not_before,
)
from repair import lifecycle
from repair.dangers import is_lift_entrapment
from repair.db import after_commit, db, transaction_memo, utcnow
from repair.models import Category, Contractor, Ticket, TicketEvent, Urgency

log = logging.getLogger(__name__)


class NotServing(Exception):
    """A ticket was to be sent to a contractor who does not serve its community."""

    def __init__(self, ticket: Ticket, contractor: Contractor):
        super().__init__(
            f"{ticket.number}: contractor {contractor.id} does not serve"
            f" community {ticket.community_id}"
        )
        self.ticket = ticket
        self.contractor = contractor


def policy_for(community_id: int) -> sla.Policy:
    """Returns the community's SLA policy: its own durations over the settings."""
    config = current_app.config
    known = transaction_memo("sla policies")
    if community_id in known:  # a community without its own row: asked once
        own = known[community_id]
    else:
        own = known[community_id] = db.session.get(SlaPolicy, community_id)

    def pick(seconds: int | None, key: str) -> timedelta:
        return timedelta(seconds=seconds) if seconds else config[key]

    urgent_contact = pick(own and own.urgent_contact_seconds, "SLA_URGENT_CONTACT")
    return sla.Policy(
        triage=pick(own and own.triage_seconds, "SLA_TRIAGE"),
        urgent_contact=urgent_contact,
        urgent_on_site=pick(own and own.urgent_on_site_seconds, "SLA_URGENT_ON_SITE"),
        general_on_site=pick(
            own and own.general_on_site_seconds, "SLA_GENERAL_ON_SITE"
        ),
        supervisor_grace=config["SLA_SUPERVISOR_GRACE"],
        backup_contact=config.get("SLA_BACKUP_CONTACT") or urgent_contact,
        hotline_reminder=config["SLA_HOTLINE_REMINDER"],
        lift_entrapment_on_site=config["SLA_LIFT_ENTRAPMENT_ON_SITE"],
        lift_entrapment_contact=config["SLA_LIFT_ENTRAPMENT_CONTACT"],
    )


def deadlines_for(
    ticket: Ticket,
    urgency: str,
    *,
    category: Category | None = None,
    classification: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """Returns the ticket's deadline columns for ``urgency`` under its policy; the
    time already paused still counts (a running pause adds its own when it ends).

    ``category`` and ``classification``: what the ticket is about to be assessed
    as, where not yet set on it (someone trapped in a lift has a shorter clock).

    A backup's own window to accept stands: an officer confirming urgency after
    the handover put the backup's deadline back to the one the primary had missed
    (outside tester: 接单截止 01:55 on a job handed over at 01:55).

    A ticket made urgent at ``now`` (an officer's change) has its urgent clocks
    counted from then, kept where already sooner: counted from submission, a job
    made urgent after 30 minutes was overdue before its contractor heard of it
    (outside tester: "请04:46前接单" sent at 04:53, the job handed to the backup in
    the same minute)."""
    policy = policy_for(ticket.community_id)
    entrapment = trapped_in_lift(ticket, urgency, category, classification)
    deadlines = sla.deadlines(
        urgency,
        ticket.created_at,
        policy,
        timedelta(seconds=ticket.paused_seconds or 0.0),
        lift_entrapment=entrapment,
    )
    if now is not None and urgency == Urgency.URGENT.value and not _urgent(ticket):
        # (from the running pause's start: its whole length is added at its end)
        since = ticket.paused_at or now
        raised = sla.deadlines(urgency, since, policy, lift_entrapment=entrapment)
        for name in ("contact_due_at", "on_site_due_at"):
            current = getattr(ticket, name)
            if current is not None:  # a general ticket's on-site deadline
                raised[name] = min(raised[name], max(current, deadlines[name]))
            deadlines[name] = max(deadlines[name], raised[name])
    handed = _handover_contact_due(ticket)
    if handed is not None and deadlines.get("contact_due_at") is not None:
        deadlines["contact_due_at"] = max(deadlines["contact_due_at"], handed)
    return deadlines


def _urgent(ticket: Ticket) -> bool:
    return ticket.urgency is Urgency.URGENT


def fresh_contact_due(ticket: Ticket, now: datetime) -> datetime | None:
    """Returns a new contractor's own deadline to accept a job handed to them at
    ``now`` (the backup's window; shorter for someone trapped in a lift), or None
    for a ticket with no contact clock."""
    if ticket.contact_due_at is None:
        return None
    policy = policy_for(ticket.community_id)
    window = policy.backup_contact
    if trapped_in_lift(ticket, ticket.urgency.value):
        window = min(window, policy.lift_entrapment_contact)
    return now + window


#: The roles of a job handed over with a window of its own to accept: to the
#: backup (AB岗), or by the officer.
_HANDED_OVER = ("backup", OFFICER_ROLE)


def _handover_contact_due(ticket: Ticket) -> datetime | None:
    """Returns the window to accept the backup (or the officer's choice) was given
    with the job it holds now, None when the job is not such a handover."""
    if ticket.contractor_id is None:
        return None  # a report being taken in: no job yet, nothing to ask
    assignment = current_assignment(ticket)
    if assignment is None or assignment.role not in _HANDED_OVER:
        return None
    event = db.session.scalars(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "dispatch")
        .order_by(TicketEvent.id.desc())
        .limit(1)
    ).first()
    due = ((event.data or {}) if event is not None else {}).get("contact_due_at")
    return datetime.fromisoformat(due) if due else None


def trapped_in_lift(
    ticket: Ticket,
    urgency: str,
    category: Category | None = None,
    classification: dict | None = None,
) -> bool:
    """Returns whether the ticket, assessed as ``urgency`` (and ``category`` and
    ``classification`` where given), is someone trapped in a lift."""
    return is_lift_entrapment(
        SimpleNamespace(
            declared_danger=ticket.declared_danger,
            urgency=Urgency(urgency),
            category=category if category is not None else ticket.category,
            classification=(
                classification if classification is not None else ticket.classification
            ),
        )
    )


def job_id(ticket_id: int, clock: str, rung: str) -> str:
    """Returns the stable rq job id of one rung of one ticket's clock."""
    return f"sla-{ticket_id}-{clock}-{rung}"


def plan_jobs(ticket: Ticket) -> None:
    """(Re)schedules the ticket's rung jobs after the commit; met clocks lose theirs."""
    steps = []
    if lifecycle.is_open(ticket):
        urgency = ticket.urgency.value if ticket.urgency else None
        steps = sla.schedule(ticket, urgency, policy_for(ticket.community_id))
    plan = [(rung.clock, rung.name, when) for rung, when in steps]
    app = current_app._get_current_object()
    ticket_id = ticket.id
    # A ticket opened in this transaction has no rung jobs to cancel yet.
    first = lifecycle.opened_in_this_transaction(ticket)
    after_commit(
        lambda: apply_plan(app, ticket_id, plan, first=first),
        key=("sla-plan", ticket_id),
    )


def apply_plan(
    app: Flask,
    ticket_id: int,
    plan: list[tuple[str, str, datetime]],
    *,
    first: bool = False,
) -> None:
    """Puts the planned rung jobs on rq's schedule and deletes the others (none
    for the ticket's ``first`` plan)."""
    wanted = {(clock, name) for clock, name, _ in plan}
    if not first:
        cancel_jobs(
            app,
            [
                job_id(ticket_id, c, n)
                for c, n in sla.all_rungs()
                if (c, n) not in wanted
            ],
        )
    if not plan:
        return
    queue = get_queue(app, SLA_QUEUE_NAME)
    # One round trip for the whole plan, not one per rung.
    with queue.connection.pipeline() as pipe:
        for clock, name, when in plan:
            queue.enqueue_at(
                not_before(when),
                escalate_if_overdue,
                ticket_id,
                clock,
                name,
                job_id=job_id(ticket_id, clock, name),
                result_ttl=3600,
                pipeline=pipe,
            )
        pipe.execute()


@job
def escalate_if_overdue(
    ticket_id: int, clock: str, rung_name: str, now: datetime | None = None
) -> bool:
    """Takes a rung of the ladder if its deadline is really missed; True if taken.

    A contractor's action that won the race for the ticket leaves nothing to do."""
    now = now or utcnow()
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return False
    urgency = ticket.urgency.value if ticket.urgency else None
    rung = sla.find_rung(clock, rung_name, urgency, policy_for(ticket.community_id))
    try:
        taken = rung is not None and take_rung(ticket, rung, now)
    except lifecycle.TransitionNotAllowed:
        db.session.rollback()
        return False
    db.session.commit()
    return taken


def take_rung(ticket: Ticket, rung: sla.Rung, now: datetime) -> bool:
    """Records and acts on a rung once per deadline; False if not due or taken.

    The ticket is locked and re-read first: a contractor who accepts at the
    deadline either comes first (the clock is met, nothing happens) or after (the
    job has gone to the backup and their link says so)."""
    lifecycle.lock(ticket)
    due = sla.due_at(ticket, rung.clock)
    if (
        not lifecycle.is_open(ticket)
        or due is None
        or sla.is_met(ticket, rung.clock)
        or sla.is_paused(ticket, rung.clock)
        or now < due + rung.delay
    ):
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                SlaStep(
                    ticket_id=ticket.id,
                    clock=rung.clock,
                    rung=rung.name,
                    due_at=due,
                    taken_at=now,
                )
            )
    except sa.exc.IntegrityError:
        return False  # another worker (or an earlier run) took it
    if rung.delay < timedelta(0) and now >= due:
        return False  # a nudge before the deadline is moot after it; marked as handled
    assignment = current_assignment(ticket)
    if rung.delay < timedelta(0):
        # Ahead of the deadline: a nudge to the contractor or the officer, and the
        # ticket is not late (an outside tester saw every urgent card move to
        # 已超时/已升级 ten minutes before its deadline, on the contractor's nudge).
        lifecycle.remind(
            ticket,
            lifecycle.Actor.system(),
            now,
            data={
                "clock": rung.clock,
                "rung": rung.name,
                "actions": list(rung.actions),
                "due_at": due.isoformat(),
                "assignment_id": assignment.id if assignment else None,
            },
        )
        return True
    lifecycle.escalate(
        ticket,
        lifecycle.Actor.system(),
        now,
        data={
            "clock": rung.clock,
            "rung": rung.name,
            "actions": list(rung.actions),
            "due_at": due.isoformat(),
            "assignment_id": assignment.id if assignment else None,
        },
    )
    if "dispatch_backup" in rung.actions and (
        assignment is None or assignment.role != "backup"
    ):
        # The backup gets its own window once; if it too stays silent, the officer
        # (alerted by this rung) and then the supervisor take over.
        dispatch_backup(ticket, now, reason="no_contact")
    return True


def dispatch_to(
    ticket: Ticket,
    contractor: Contractor,
    actor: lifecycle.Actor,
    now: datetime | None = None,
    *,
    role: str = "primary",
    reason: str | None = None,
    note: str | None = None,
    contact_due_at: datetime | None = None,
) -> Assignment:
    """Assigns the ticket to a contractor: a new assignment and a 'dispatch' event.

    Raises NotServing for a contractor outside the ticket's community: callers
    offer and pick only those who serve it, so this is the last line of defence."""
    now = now or utcnow()
    if not contractor.serves(ticket.community_id):
        raise NotServing(ticket, contractor)
    lifecycle.lock(ticket)
    if not lifecycle.can(ticket, "dispatch"):
        raise lifecycle.TransitionNotAllowed(ticket, "dispatch")
    previous_id = ticket.contractor_id
    assignment = open_assignment(ticket, contractor, role, now)
    payload = {"contractor_id": contractor.id}
    if contact_due_at is not None:
        payload["contact_due_at"] = contact_due_at
    lifecycle.transition(
        ticket,
        "dispatch",
        actor,
        now,
        note=note,
        data={
            "assignment_id": assignment.id,
            "contractor_id": contractor.id,
            "contractor": contractor.name,
            "previous_contractor_id": previous_id,
            "role": role,
            "reason": reason,
            "contact_due_at": contact_due_at.isoformat() if contact_due_at else None,
        },
        **payload,
    )
    return assignment


def dispatch_backup(ticket: Ticket, now: datetime, reason: str) -> Assignment | None:
    """Hands the ticket to the backup contractor (AB岗), if there is one to hand to."""
    lifecycle.lock(ticket)
    if not lifecycle.is_unanswered(ticket):
        return None
    backup = backup_for(ticket)
    if backup is None:
        log.warning("%s: no backup contractor to hand to (%s)", ticket.number, reason)
        return None
    # A fresh window to accept (for a ticket with a contact clock); the on-site
    # deadline stays what the resident was promised.
    fresh = fresh_contact_due(ticket, now)
    return dispatch_to(
        ticket,
        backup,
        lifecycle.Actor.system(),
        now,
        role="backup",
        reason=reason,
        contact_due_at=fresh,
    )


def on_reopened(ticket: Ticket, event, now: datetime) -> Assignment | None:
    """After any reopen (resident or officer): the clocks start again from now and
    the job goes back to its contractor, or the backup if they may no longer take
    it (inactive, or no longer serving the community)."""
    urgency = ticket.urgency.value if ticket.urgency else "general"
    deadlines = sla.deadlines(
        urgency,
        now,
        policy_for(ticket.community_id),
        lift_entrapment=trapped_in_lift(ticket, urgency),
    )
    if ticket.triage_due_at is not None:
        # Confirming the urgency is done once, by its deadline from submission:
        # a reopen does not move it (outside tester: a triage confirmed late was
        # counted on time once the reopen put its deadline after the confirmation).
        deadlines["triage_due_at"] = ticket.triage_due_at
    lifecycle.restart_clocks(ticket, deadlines, lifecycle.Actor.system(), now)
    previous = ticket.contractor
    contractor = previous if may_take(previous, ticket) else backup_for(ticket)
    if contractor is None:
        return None
    return dispatch_to(
        ticket,
        contractor,
        lifecycle.Actor.system(),
        now,
        role="reopen",
        reason="reopened",
    )
