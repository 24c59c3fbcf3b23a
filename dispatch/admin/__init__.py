"""Administration: communities, places, stickers, routing, contractors, users, SLA."""
