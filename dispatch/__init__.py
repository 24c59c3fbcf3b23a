"""Dispatch: classification, routing, SLA clock, jobs, notifications, board.

`init_app` subscribes to what repair announces; repair never imports dispatch.
"""

from __future__ import annotations

from flask import Flask

from repair import signals


def init_app(app: Flask) -> None:
    """Wires dispatch into the app: models, SMS backend, signal receivers, pages."""
    from dispatch import (  # noqa: F401  (models: the tables)
        admin,
        auth,
        board,
        cli,
        contractor,
        models,
        outbox,
        stats,
        views,
        webhooks,
    )

    outbox.init_app(app)
    auth.init_app(app)
    board.init_app(app)
    stats.init_app(app)
    admin.init_app(app)
    views.init_app(app)
    contractor.init_app(app)
    webhooks.init_app(app)
    cli.init_app(app)
    signals.ticket_opened.connect(_on_ticket_opened, weak=False)
    signals.event_recorded.connect(_on_event_recorded, weak=False)
    signals.demo_seeded.connect(_on_demo_seeded, weak=False)


def _on_ticket_opened(_sender, *, ticket, actor, now, **_) -> None:
    from dispatch.intake import on_ticket_opened

    on_ticket_opened(ticket, actor, now)


def _on_event_recorded(_sender, *, ticket, event, **_) -> None:
    from dispatch.escalation import QUIET_ACTIONS, on_reopened, plan_jobs
    from dispatch.notify import on_event

    on_event(ticket, event)
    if event.action == "reopen":
        on_reopened(ticket, event, event.at)
    if event.action not in QUIET_ACTIONS:
        plan_jobs(ticket)


def _on_demo_seeded(_sender, *, community, **_) -> None:
    from dispatch.seed import seed_demo_routes

    seed_demo_routes(community)
