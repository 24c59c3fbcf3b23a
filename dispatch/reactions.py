"""Dispatch's reactions to what repair announces (blinker signals)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from dispatch.assignment import storms
from dispatch.assignment.intake import on_ticket_opened
from dispatch.followup import tasks as follow_up
from dispatch.messaging.notify import on_event
from dispatch.seed import seed_demo_routes
from dispatch.sla.clock import replans
from dispatch.sla.escalation import on_reopened, plan_jobs
from dispatch.sla.pauses import plan_resume
from repair import signals


def init_app(app: Flask) -> None:
    """Subscribes dispatch to repair's signals (once per process: they are global)."""
    signals.ticket_opened.connect(_on_ticket_opened, weak=False)
    signals.event_recorded.connect(_on_event_recorded, weak=False)
    signals.demo_seeded.connect(_on_demo_seeded, weak=False)


def _on_ticket_opened(_sender, *, ticket, actor, now, urgency=None, **_) -> None:
    on_ticket_opened(ticket, actor, now, urgency)


def _on_event_recorded(_sender, *, ticket, event, **_) -> None:
    on_event(ticket, event)
    if event.action == "reopen":
        on_reopened(ticket, event, event.at)
    follow_up.on_event(ticket, event)
    if event.action in ("reject", "mark_duplicate"):
        # A group's ticket ended without work: the reports held in its group must
        # not wait without a clock for a merge that can no longer come.
        storms.release_held(ticket, event.at)
    if event.action == "pause_approved":
        data = event.data or {}
        plan_resume(
            ticket, data["pause_id"], datetime.fromisoformat(data["resume_expected_at"])
        )
    if replans(event.action):
        plan_jobs(ticket)


def _on_demo_seeded(_sender, *, community, **_) -> None:
    seed_demo_routes(community)
