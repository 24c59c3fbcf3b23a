"""Messaging: who hears what, the outbox, SMS backends, webhooks, the console page."""
