"""Open311 API keys: issued once in clear, stored hashed, scoped, revocable, logged."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa

from dispatch.integrations.models import ApiKey, ApiKeyUse
from repair.db import db, utcnow
from repair.models import Community

KEY_PREFIX = "rd311_"


def hash_key(raw: str) -> str:
    """Returns the stored form of a key: its SHA-256 in hex (keys are random)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_key(name: str, communities: list[Community]) -> tuple[ApiKey, str]:
    """Creates a key for the communities; returns the row and the key in clear,
    which is never stored and cannot be shown again. The caller commits."""
    raw = KEY_PREFIX + secrets.token_urlsafe(24)
    key = ApiKey(
        name=name,
        prefix=raw[: len(KEY_PREFIX) + 4],
        key_hash=hash_key(raw),
        communities=list(communities),
    )
    db.session.add(key)
    return key, raw


def find_active_key(raw: str | None) -> ApiKey | None:
    """Returns the unrevoked key matching ``raw``, or None."""
    if not raw:
        return None
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == hash_key(raw)))
    return key if key is not None and key.is_active else None


def revoke_key(key: ApiKey, now: datetime | None = None) -> None:
    """Stops the key from working from now on; the caller commits."""
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()


def record_use(
    key: ApiKey,
    method: str,
    path: str,
    remote_addr: str | None,
    ticket_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Logs one use of the key; the caller commits."""
    now = now or utcnow()
    key.last_used_at = now
    db.session.add(
        ApiKeyUse(
            api_key_id=key.id,
            at=now,
            method=method,
            path=path[:200],
            remote_addr=remote_addr,
            ticket_id=ticket_id,
        )
    )


def community_ids(key: ApiKey) -> list[int]:
    """Returns the ids of the communities the key may report in and read."""
    return [community.id for community in key.communities]
