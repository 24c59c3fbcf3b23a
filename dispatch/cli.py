"""Dispatch's console commands: ``classify`` (JSON lines) and ``worker`` (rq)."""

from __future__ import annotations

import json
from typing import Any, TextIO

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from dispatch.classifier import Rules, classify, load_rules


def classify_line(line: str, rules: Rules) -> dict[str, Any] | None:
    """Returns the verdict for one JSON line, an error dict, or None if blank."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return {"error": f"invalid JSON: {error.msg}"}
    if not isinstance(record, dict):
        return {"error": "expected a JSON object"}
    text = record.get("text")
    category = record.get("category")
    if not isinstance(text, str):
        return {"error": "'text' must be a string"}
    if category is not None and not isinstance(category, str):
        return {"error": "'category' must be a string or null"}
    return classify(text, category or None, rules).to_dict()


@click.command("classify")
@click.argument(
    "source", type=click.File("r", encoding="utf-8"), default="-", required=False
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Rules TOML file (default: $REPAIRDESK_CLASSIFIER_RULES or the packaged one).",
)
def classify_command(source: TextIO, rules_path: str | None) -> None:
    """Classify JSON lines ({"text": …, "category": …}) from SOURCE (default stdin)."""
    rules = load_rules(rules_path)
    for number, line in enumerate(source, start=1):
        result = classify_line(line, rules)
        if result is None:
            continue
        if "error" in result:
            result["line"] = number
        click.echo(json.dumps(result, ensure_ascii=False))


@click.command("worker")
@click.option(
    "--with-scheduler/--without-scheduler",
    default=True,
    show_default=True,
    help="Also move due scheduled jobs (SLA rungs, SMS retries) onto the queue.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--fork",
    is_flag=True,
    help="Run each job in a forked process (isolation at ~100 ms a job).",
)
@with_appcontext
def worker_command(with_scheduler: bool, burst: bool, fork: bool) -> None:
    """Run an rq worker for RepairDesk's jobs, with the minute sweep.

    Jobs are short, idempotent database work, so by default they run in this warm
    process (rq's SimpleWorker); a forked, cold process per job costs ten times more.
    Scheduled jobs are moved onto the queues every REPAIRDESK_SCHEDULER_INTERVAL
    (0.25 s) by one of the workers (dispatch.scheduling).
    """
    import sqlalchemy.orm
    from rq import SimpleWorker, Worker

    from dispatch import escalation, outbox, sweep  # noqa: F401  (warm imports)
    from dispatch.jobs import get_queues
    from dispatch.scheduling import SchedulerThread, enqueue_due_once
    from dispatch.ticker import SweepTicker

    app = current_app._get_current_object()
    sqlalchemy.orm.configure_mappers()
    queues = get_queues(app)
    worker = (Worker if fork else SimpleWorker)(queues, connection=queues[0].connection)
    if burst:
        if with_scheduler:
            enqueue_due_once(queues)
        worker.work(burst=True)
        return
    # rq's own scheduler polls once a second; ours, in a thread, more often.
    interval = app.config["SCHEDULER_INTERVAL"].total_seconds()
    threads = [SweepTicker(app)]
    if with_scheduler:
        threads.append(SchedulerThread(queues, interval))
    for thread in threads:
        thread.start()
    try:
        worker.work(with_scheduler=False)
    finally:
        for thread in threads:
            thread.stop()


def init_app(app: Flask) -> None:
    """Adds dispatch's commands to the app's CLI group."""
    from repair.cli import WELCOME_LINES

    app.cli.add_command(classify_command)
    app.cli.add_command(worker_command)
    if ("SMS outbox", _outbox_url) not in WELCOME_LINES:
        WELCOME_LINES.append(("SMS outbox", _outbox_url))


def _outbox_url(base: str) -> str:
    return f"{base}/outbox"


if __name__ == "__main__":
    classify_command()
