"""The links RepairDesk hands out, each built in one place."""

from __future__ import annotations

from flask import current_app

from repair.models import Ticket


def resident_url(ticket: Ticket, *, private: bool = True) -> str:
    """Returns the full URL of a ticket's tracking page for a resident.

    ``private``: the reporter's own link, which carries their private key (and so
    lets them confirm, reopen and rate); neighbours who follow the ticket get the
    public page only. Every link to the tracking page is built here, so where the
    key travels (query string, fragment) is decided in this one function."""
    url = f"{current_app.config['PUBLIC_URL']}/t/{ticket.number}"
    if private and ticket.resident_key:
        url += f"?k={ticket.resident_key}"
    return url


def board_url(ticket: Ticket) -> str:
    """Returns the full URL of a ticket's page on the officer's board."""
    return f"{current_app.config['PUBLIC_URL']}/board/t/{ticket.number}"
