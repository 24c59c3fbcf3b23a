"""Commands: `repairdesk open311 keys create|list|revoke` and `repairdesk hotline`."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from dispatch.integrations import keys
from dispatch.integrations.models import ApiKey, HotlineSystem
from repair.db import db
from repair.models import Community

open311_cli = AppGroup("open311", help="The Open311 GeoReport v2 server.")
keys_cli = AppGroup("keys", help="Open311 API keys.")
open311_cli.add_command(keys_cli)
hotline_cli = AppGroup("hotline", help="12345 hotline systems.")


def _communities(slugs) -> list[Community]:
    found = []
    for slug in slugs:
        community = db.session.scalar(
            sa.select(Community).where(Community.slug == slug)
        )
        if community is None:
            raise click.ClickException(f"no community {slug!r}")
        found.append(community)
    return found


@keys_cli.command("create")
@click.argument("name")
@click.option("--community", "communities", multiple=True, required=True)
def create_key(name, communities):
    """Issue a key for the communities; it is printed once and never again."""
    key, raw = keys.issue_key(name, _communities(communities))
    db.session.commit()
    click.echo(raw)
    click.echo(f"key {key.id} ({key.prefix}…) for {name}; keep it now", err=True)


@keys_cli.command("list")
def list_keys():
    """List keys: id, prefix, name, communities, last use, state."""
    for key in db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)):
        scope = ",".join(c.slug for c in key.communities)
        used = (
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "-"
        )
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.prefix}…\t{key.name}\t{scope}\t{used}\t{state}")


@keys_cli.command("revoke")
@click.argument("key_id", type=int)
def revoke_key(key_id):
    """Revoke a key by its id (from `keys list`)."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.ClickException(f"no key {key_id}")
    keys.revoke_key(key)
    db.session.commit()
    click.echo(f"revoked key {key.id} ({key.name})")


@hotline_cli.command("add")
@click.argument("name")
@click.option("--reply-url", required=True, help="Where replies are POSTed.")
@click.option("--secret-stdin", is_flag=True, help="Read the shared secret from stdin.")
@click.option("--community", "communities", multiple=True, help="Limit placing.")
def add_hotline(name, reply_url, secret_stdin, communities):
    """Add a hotline system (or update its reply URL and secret)."""
    if not reply_url.startswith(("http://", "https://")):
        raise click.ClickException("--reply-url must be an http(s) URL")
    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = click.prompt("Shared secret", hide_input=True)
    if len(secret) < 16:
        raise click.ClickException("the secret needs at least 16 characters")
    system = db.session.scalar(
        sa.select(HotlineSystem).where(HotlineSystem.name == name)
    )
    if system is None:
        system = HotlineSystem(name=name)
        db.session.add(system)
    system.reply_url, system.secret, system.is_active = reply_url, secret, True
    system.communities = _communities(communities)
    db.session.commit()
    click.echo(f"hotline {name} replies to {reply_url}")


@hotline_cli.command("list")
def list_hotlines():
    """List hotline systems and their reply addresses."""
    for system in db.session.scalars(
        sa.select(HotlineSystem).order_by(HotlineSystem.id)
    ):
        state = "active" if system.is_active else "off"
        click.echo(f"{system.id}\t{system.name}\t{system.reply_url}\t{state}")


def init_app(app: Flask) -> None:
    """Adds the `open311` and `hotline` commands."""
    app.cli.add_command(open311_cli)
    app.cli.add_command(hotline_cli)
