"""The integrations' settings, with their embedded defaults (REPAIRDESK_* overrides)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from repair.config import parse_duration

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "municipal.toml"

DEFAULTS = {
    #: The hotline's field names, time formats and codes (a TOML file).
    "HOTLINE_MAPPING": str(DEFAULT_MAPPING),
    #: How far a push's timestamp may be from our clock (the replay window).
    "HOTLINE_REPLAY_WINDOW": "5m",
    #: The lowest place-match score that places an order without the officer.
    "HOTLINE_MATCH_MIN_SCORE": 0.9,
    #: How long the hotline may take to answer a reply.
    "HOTLINE_REPLY_TIMEOUT": "10s",
    #: The farthest an Open311 lat/long may be from the entrance it is placed at.
    "OPEN311_MAX_DISTANCE_METRES": 150,
    #: Calls per API key.
    "OPEN311_RATE_LIMIT": "120 per minute",
    #: How long a media_url may take to download.
    "OPEN311_MEDIA_TIMEOUT": "15s",
    #: Name given as agency_responsible and in discovery.
    "OPEN311_AGENCY": "RepairDesk",
}


def init_app(app: Flask) -> None:
    """Fills in the defaults of settings not given and parses the durations."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    for key in (
        "HOTLINE_REPLAY_WINDOW",
        "HOTLINE_REPLY_TIMEOUT",
        "OPEN311_MEDIA_TIMEOUT",
    ):
        app.config[key] = parse_duration(app.config[key])
