"""Photos given by URL: fetched by a job with the photo checks, size limits, no
redirects and no private or loopback addresses."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from flask import Flask, current_app

from dispatch.integrations.models import RemoteMedia
from dispatch.worker.queues import enqueue_after_commit, job
from repair.db import db, utcnow
from repair.models import Photo, Ticket
from repair.photos.processing import PhotoRejected
from repair.photos.store import take_photo

log = logging.getLogger(__name__)

_CHECK_KEY = "repairdesk.media_address_allowed"


class MediaRefused(Exception):
    """A URL we will not fetch, or a download that is not a photo we take."""


def is_public_address(address: str) -> bool:
    """Returns whether an IP address is a public one (not private, loopback,
    link-local, multicast, reserved or unspecified)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def address_allowed(address: str) -> bool:
    """Asks the app's address check (``is_public_address`` unless a test set one)."""
    check: Callable[[str], bool] = current_app.extensions.get(
        _CHECK_KEY, is_public_address
    )
    return check(address)


def set_address_check(app: Flask, check: Callable[[str], bool]) -> None:
    """Replaces the address check (tests fetch from a local server)."""
    app.extensions[_CHECK_KEY] = check


def check_url(url: str) -> None:
    """Raises MediaRefused unless the URL is http(s) and every address its host
    resolves to passes the address check."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaRefused("only http and https URLs are fetched")
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or 80, type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as error:
        raise MediaRefused(f"cannot resolve {parts.hostname}: {error}") from error
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(address_allowed(a) for a in addresses):
        raise MediaRefused(f"{parts.hostname} is not a public address")


def download(url: str, max_bytes: int, timeout: float) -> bytes:
    """Returns the body at ``url``, at most ``max_bytes``; refuses redirects."""
    check_url(url)
    with requests.get(
        url, stream=True, allow_redirects=False, timeout=timeout
    ) as response:
        if response.is_redirect or 300 <= response.status_code < 400:
            raise MediaRefused("redirects are not followed")
        if response.status_code != 200:
            raise MediaRefused(f"HTTP {response.status_code}")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise MediaRefused(f"larger than {max_bytes} bytes")
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise MediaRefused(f"larger than {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def queue_media(ticket: Ticket, urls: list[str]) -> list[RemoteMedia]:
    """Records the URLs to fetch for the ticket and queues their jobs after commit."""
    rows = [RemoteMedia(ticket_id=ticket.id, url=url) for url in urls if url]
    db.session.add_all(rows)
    db.session.flush()
    for row in rows:
        enqueue_after_commit(fetch_media, row.id, job_id=f"media-{row.id}")
    return rows


@job
def fetch_media(media_id: int) -> str:
    """Fetches one URL into a report photo of its ticket; returns the outcome."""
    media = db.session.get(RemoteMedia, media_id)
    if media is None or media.status != "pending":
        return media.status if media else "missing"
    config = current_app.config
    try:
        raw = download(
            media.url,
            int(config["PHOTO_MAX_BYTES"]),
            config["OPEN311_MEDIA_TIMEOUT"].total_seconds(),
        )
        photo = take_photo(raw)
    except (MediaRefused, PhotoRejected, requests.RequestException) as error:
        media.status, media.error = "failed", str(error)[:500]
        media.fetched_at = utcnow()
        db.session.commit()
        log.info("media %s not taken: %s", media.url, error)
        return "failed"
    db.session.add(
        Photo(
            ticket_id=media.ticket_id,
            purpose="report",
            sha256=photo.sha256,
            width=photo.width,
            height=photo.height,
        )
    )
    media.status, media.fetched_at = "fetched", utcnow()
    db.session.commit()
    return "fetched"
