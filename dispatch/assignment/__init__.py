"""Assignment: which contractor gets a ticket, handoffs and contractors' actions."""
