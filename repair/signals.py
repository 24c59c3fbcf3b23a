"""What repair announces; dispatch and others subscribe (repair never imports them)."""

from blinker import Namespace

_signals = Namespace()

#: Sent inside the submitting transaction, before commit, with ``ticket=``: receivers
#: may classify, route and dispatch the ticket in the same transaction.
ticket_opened = _signals.signal("ticket-opened")

#: Sent after the commit that made a transition durable, with ``ticket_id=``,
#: ``event_id=``, ``action=``: receivers enqueue work (jobs, messages).
ticket_changed = _signals.signal("ticket-changed")
