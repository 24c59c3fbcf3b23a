"""The SLA clocks and the escalation ladder: pure arithmetic on plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from repair.models import CLOCK_DEADLINES, CLOCK_MET_BY, PAUSED_CLOCKS

URGENT = "urgent"
GENERAL = "general"

#: clock → the ticket column holding its deadline; clock → the columns of which
#: any one being set means the clock was met (the ticket's own definitions)
DUE_FIELDS = CLOCK_DEADLINES
MET_FIELDS = CLOCK_MET_BY


@dataclass(frozen=True)
class Policy:
    """The four durations of DESIGN.md's SLA table, plus the supervisor's grace."""

    triage: timedelta = timedelta(hours=1)
    urgent_contact: timedelta = timedelta(minutes=30)
    urgent_on_site: timedelta = timedelta(hours=2)
    general_on_site: timedelta = timedelta(hours=24)
    supervisor_grace: timedelta = timedelta(minutes=30)
    #: the backup's own time to accept after a handover (AB岗)
    backup_contact: timedelta = timedelta(minutes=30)
    #: how long before a hotline's own deadline the officer is reminded of it
    hotline_reminder: timedelta = timedelta(hours=2)
    #: someone trapped in a lift: on site within this (TSG T5002: 30 minutes in
    #: a city with districts), however long the urgent on-site clock is; and
    #: accepted within this, which leaves a backup (AB岗) the time to get there
    lift_entrapment_on_site: timedelta = timedelta(minutes=30)
    lift_entrapment_contact: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Rung:
    """One step of a clock's ladder: ``delay`` after the deadline, do ``actions``."""

    clock: str
    name: str
    delay: timedelta
    actions: tuple[str, ...]


class TicketClocks(Protocol):
    """What the ladder reads from a ticket (a Ticket row satisfies it)."""

    triage_due_at: datetime | None
    contact_due_at: datetime | None
    on_site_due_at: datetime | None
    hotline_due_at: datetime | None
    urgency_confirmed_at: datetime | None
    accepted_at: datetime | None
    on_site_at: datetime | None
    completed_at: datetime | None
    paused_at: datetime | None


def deadlines(
    urgency: str,
    submitted_at: datetime,
    policy: Policy,
    paused: timedelta = timedelta(0),
    *,
    lift_entrapment: bool = False,
) -> dict:
    """Returns the deadline columns for this urgency, all counted from submission;
    the clocks a pause stops (PAUSED_CLOCKS) come ``paused`` later. Someone
    trapped in a lift is reached within ``lift_entrapment_on_site``, the job
    accepted within ``lift_entrapment_contact`` (or it goes to the backup)."""
    urgent = urgency == URGENT
    contact = policy.urgent_contact
    on_site = policy.urgent_on_site if urgent else policy.general_on_site
    if urgent and lift_entrapment:
        on_site = min(on_site, policy.lift_entrapment_on_site)
        contact = min(contact, policy.lift_entrapment_contact, on_site)
    due = {
        "triage_due_at": submitted_at + policy.triage,
        "contact_due_at": submitted_at + contact if urgent else None,
        "on_site_due_at": submitted_at + on_site,
    }
    for clock in PAUSED_CLOCKS:
        if due.get(DUE_FIELDS[clock]) is not None:
            due[DUE_FIELDS[clock]] += paused
    return due


def ladder(clock: str, urgency: str | None, policy: Policy) -> tuple[Rung, ...]:
    """Returns the rungs of a clock's escalation ladder, in order."""
    grace = policy.supervisor_grace
    if clock == "hotline":
        # The hotline's own deadline (办理时限): the officer hears ahead of it, and
        # its breach reaches the officer and the supervisor like ours.
        return (
            Rung("hotline", "remind", -policy.hotline_reminder, ("remind_officer",)),
            Rung(
                "hotline", "breach", timedelta(0), ("alert_officer", "alert_supervisor")
            ),
        )
    if clock == "triage":
        return (
            Rung(
                "triage", "breach", timedelta(0), ("alert_officer", "alert_supervisor")
            ),
        )
    if clock == "contact":
        return (
            # A nudge while there is still time: a third of the window before the end.
            Rung(
                "contact", "remind", -policy.urgent_contact / 3, ("remind_contractor",)
            ),
            Rung(
                "contact",
                "breach",
                timedelta(0),
                ("dispatch_backup", "alert_officer"),
            ),
            Rung("contact", "supervisor", grace, ("alert_supervisor",)),
        )
    if urgency == URGENT:
        return (
            Rung(
                "on_site", "breach", timedelta(0), ("alert_officer", "alert_supervisor")
            ),
        )
    return (
        Rung("on_site", "breach", timedelta(0), ("alert_officer",)),
        Rung("on_site", "supervisor", grace, ("alert_supervisor",)),
    )


#: Every urgency a ladder can be asked for (None: not yet classified).
URGENCIES = (URGENT, GENERAL, None)

#: The actions whose events move a clock (set, meet, restart or stop it) and so
#: re-plan the ticket's rung jobs; any other event ("rated", "me_too", "note" …)
#: leaves the plan as it is. "clocks_restarted" is always followed by the
#: "reopen" that re-plans.
REPLANNING_ACTIONS = frozenset(
    {
        "classified",
        "urgency_confirmed",
        "dispatch",
        "accept",
        "decline",
        "arrive",
        "complete",
        "close",
        "reopen",
        "reject",
        "mark_duplicate",
        "pause_approved",
        "resumed",
    }
)


def replans(action: str) -> bool:
    """Returns whether an event of this action re-plans the ticket's rung jobs."""
    return action in REPLANNING_ACTIONS


def all_rungs() -> tuple[tuple[str, str], ...]:
    """Returns every (clock, rung) any ticket can have, in ladder order."""
    return tuple(
        dict.fromkeys(
            (rung.clock, rung.name)
            for clock in DUE_FIELDS
            for urgency in URGENCIES
            for rung in ladder(clock, urgency, Policy())
        )
    )


def rung_count(clock: str, urgency: str | None) -> int:
    """Returns how many rungs the clock's ladder has for this urgency."""
    return len(ladder(clock, urgency, Policy()))


def lead_time(clock: str, policy: Policy) -> timedelta:
    """Returns how long before its deadline a clock's earliest rung may come (a
    reminder); zero for a ladder that starts at the deadline."""
    earliest = min(
        rung.delay for urgency in URGENCIES for rung in ladder(clock, urgency, policy)
    )
    return max(timedelta(0), -earliest)


def is_met(ticket: TicketClocks, clock: str) -> bool:
    """Returns whether the ticket has met (or no longer runs) the clock."""
    return any(getattr(ticket, name) is not None for name in MET_FIELDS[clock])


def is_paused(ticket: TicketClocks, clock: str) -> bool:
    """Returns whether an approved pause stops the clock now (no rung is due)."""
    return getattr(ticket, "paused_at", None) is not None and clock in PAUSED_CLOCKS


def due_at(ticket: TicketClocks, clock: str) -> datetime | None:
    """Returns the clock's deadline on the ticket, or None if it has none."""
    return getattr(ticket, DUE_FIELDS[clock])


def schedule(
    ticket: TicketClocks, urgency: str | None, policy: Policy
) -> list[tuple[Rung, datetime]]:
    """Returns (rung, when) for every rung still ahead of a clock not yet met."""
    steps = []
    for clock in DUE_FIELDS:
        due = due_at(ticket, clock)
        if due is None or is_met(ticket, clock) or is_paused(ticket, clock):
            continue
        steps.extend(
            (rung, due + rung.delay) for rung in ladder(clock, urgency, policy)
        )
    return steps


def find_rung(
    clock: str, name: str, urgency: str | None, policy: Policy
) -> Rung | None:
    """Returns the named rung of a clock's ladder for this urgency, if there is one."""
    return next((r for r in ladder(clock, urgency, policy) if r.name == name), None)
