"""What repair announces; dispatch and others subscribe (repair never imports them)."""

from blinker import Namespace

_signals = Namespace()

#: Sent inside the submitting transaction, before commit, with ``ticket=``: receivers
#: may classify, route and dispatch the ticket in the same transaction.
ticket_opened = _signals.signal("ticket-opened")

#: Sent inside the transaction for every event recorded on a ticket, with
#: ``ticket=`` and ``event=``: receivers may write rows that belong with the event
#: (outbox messages, assignments) and queue after-commit work.
event_recorded = _signals.signal("event-recorded")

#: Sent by ``repairdesk seed-demo`` with ``community=`` once the demo community
#: exists, so other packages can seed their own demo data (routes, for example).
demo_seeded = _signals.signal("demo-seeded")

#: Sent after the commit that made a transition durable, with ``ticket_id=``,
#: ``event_id=``, ``action=``: receivers enqueue work (jobs, messages).
ticket_changed = _signals.signal("ticket-changed")

#: Sent inside the transaction that erases a resident's number and name from a
#: ticket (PIPL), with ``ticket=`` and ``phones=``: receivers scrub their own copies.
personal_data_erased = _signals.signal("personal-data-erased")

#: Sent when a resident asks what is kept about their number, with ``phone=``:
#: each receiver returns a dict of what it keeps, merged into the export.
personal_data_exported = _signals.signal("personal-data-exported")

#: Sent by the retention job with ``now=`` and ``cutoff=`` (tickets closed before
#: it have had their time): each receiver erases its own copies of residents'
#: personal information and returns how many tickets it erased.
personal_data_expired = _signals.signal("personal-data-expired")

#: Sent when a resident asks for their number to be erased, with ``phone=`` and
#: ``now=``: each receiver erases what it keeps under that number and returns
#: the ids of the tickets it changed.
personal_data_erase_requested = _signals.signal("personal-data-erase-requested")
