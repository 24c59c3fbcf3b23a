"""RepairDesk with dispatch's reaction to a new ticket disconnected, for
bench_submission.py --attribution: what the platform costs (form, photo, ticket,
its first event, the photo job) without the product's work at intake that
django-helpdesk's form does not do (classification, the SLA clocks, the route, the
contractor's assignment, job code and SMS). Never a way to run RepairDesk."""

from __future__ import annotations

from flask import Flask

from dispatch import reactions
from repair import create_app as create_repairdesk
from repair import signals


def create_app() -> Flask:
    """Returns RepairDesk's app with the ticket_opened receiver disconnected."""
    app = create_repairdesk()
    signals.ticket_opened.disconnect(reactions._on_ticket_opened)
    return app
