"""Triage: urgency and category of a report (rules and a learned model)."""
