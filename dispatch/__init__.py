"""Dispatch: triage, assignment, the SLA clock, messaging, workers and the pages.

`init_app` wires each part and subscribes to what repair announces; repair never
imports dispatch.
"""

from __future__ import annotations

from flask import Flask

from dispatch import (
    admin,
    archive,
    integrations,
    models,  # noqa: F401  (the tables)
    reactions,
)
from dispatch.board import auth, nav
from dispatch.board import views as board_views
from dispatch.contractor import views as contractor_views
from dispatch.followup import views as follow_up_views
from dispatch.messaging import callbacks, console, outbox, webhooks
from dispatch.messaging import privacy as messaging_privacy
from dispatch.public import views as public_views
from dispatch.sla import countdown
from dispatch.stats import views as stats_views
from dispatch.triage import cli as triage_cli
from dispatch.triage import warmup as triage_warmup
from dispatch.worker import cli as worker_cli
from dispatch.worker import health
from dispatch.worker import metrics as worker_metrics

PARTS = (
    outbox,  # the SMS backend
    webhooks,
    callbacks,
    console,
    messaging_privacy,
    worker_cli,
    health,
    worker_metrics,
    triage_cli,
    triage_warmup,
    auth,
    nav,
    countdown,
    board_views,
    stats_views,
    follow_up_views,
    public_views,
    admin,
    archive,
    contractor_views,
    reactions,
    integrations,
)


def init_app(app: Flask) -> None:
    """Wires dispatch into the app: its parts, their pages and the signal receivers."""
    for part in PARTS:
        part.init_app(app)
