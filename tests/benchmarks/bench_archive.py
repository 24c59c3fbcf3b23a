"""Benchmark: a year's archive of 2,000 closed tickets (`repairdesk archive`).

Each ticket has the events of a repair with a pause, a reopen and a rating (16
events), two photos (display copies of about 40 kB drawn from a pool of 200
distinct ones, so the zip stores each once and every PDF embeds its own two).

Run: .venv/bin/python tests/benchmarks/bench_archive.py [TICKETS]
(REPAIRDESK_BENCH_DATABASE_URL / REPAIRDESK_BENCH_REDIS_URL: see common.py)
"""

from __future__ import annotations

import io
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image  # noqa: E402

from tests.benchmarks.common import (  # noqa: E402
    build_app,
    database,
    migrate_and_seed,
    redis_server,
    run_in_work_dir,
)

PHOTO_POOL = 200
EVENTS = (
    ("submitted", "resident", "qr", None, "new"),
    ("classified", "system", "system", "new", "new"),
    ("dispatch", "system", "system", "new", "dispatched"),
    ("accept", "contractor", "job_link", "dispatched", "accepted"),
    ("urgency_confirmed", "officer", "board", "accepted", "accepted"),
    ("pause_requested", "contractor", "job_link", None, None),
    ("pause_approved", "officer", "board", None, None),
    ("resumed", "contractor", "job_link", None, None),
    ("complete", "contractor", "job_link", "accepted", "completed"),
    ("reopen", "resident", "tracking", "completed", "dispatched"),
    ("clocks_restarted", "system", "system", None, None),
    ("accept", "contractor", "job_link", "dispatched", "accepted"),
    ("complete", "contractor", "job_link", "accepted", "completed"),
    ("close", "resident", "tracking", "completed", "closed"),
    ("rated", "resident", "tracking", None, None),
    ("personal_data_erased", "system", "system", None, None),
)


def _photo(n: int) -> bytes:
    rng = random.Random(n)
    image = Image.new("RGB", (1200, 900), (rng.randrange(256), 90, 120))
    for _ in range(40):
        x, y = rng.randrange(1100), rng.randrange(800)
        colour = tuple(rng.randrange(256) for _ in range(3))
        image.paste(colour, (x, y, x + rng.randrange(20, 100), y + 80))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def fill(app, refs: dict, count: int) -> None:
    """Inserts count closed tickets of 2026 with their events, photos, a pause,
    and a rating, straight into the database."""
    from repair.db import db
    from repair.models import (
        ActorType,
        Channel,
        PauseState,
        Photo,
        Rating,
        Ticket,
        TicketEvent,
        TicketPause,
        TicketStatus,
        Urgency,
    )
    from repair.photos.store import take_photo

    with app.app_context():
        pool = [take_photo(_photo(n)) for n in range(PHOTO_POOL)]
        start = datetime(2026, 1, 1, 2, tzinfo=UTC)
        for n in range(count):
            at = start + timedelta(minutes=250 * n)
            ticket = Ticket(
                number=f"YG-{at:%Y%m%d}-{n:04d}",
                community_id=refs["community_id"],
                entrance_id=refs["entrances"][n % len(refs["entrances"])],
                category_id=refs["lighting"],
                spot=f"{n % 30 + 1}楼楼梯间",
                description=f"{n % 30 + 1}楼楼道灯不亮了，晚上看不见台阶，请尽快修理",
                channel=Channel.QR,
                status=TicketStatus.CLOSED,
                urgency=Urgency.GENERAL,
                contractor_id=refs["primary"],
                resident_key="k",
                created_at=at,
                updated_at=at,
                completed_at=at + timedelta(hours=20),
                closed_at=at + timedelta(hours=22),
                completed_by_name="王师傅",
                completion_note="更换了灯具和镇流器",
            )
            db.session.add(ticket)
            db.session.flush()
            for index, (action, actor, channel, before, after) in enumerate(EVENTS):
                db.session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        at=at + timedelta(hours=index * 1.4),
                        action=action,
                        from_status=TicketStatus(before) if before else None,
                        to_status=TicketStatus(after) if after else None,
                        actor_type=ActorType(actor),
                        actor_name="安居维保" if actor == "contractor" else None,
                        channel=Channel(channel),
                        note="灯还是一闪一闪" if action == "reopen" else None,
                    )
                )
            for purpose, photo in (
                ("report", pool[n % PHOTO_POOL]),
                ("completion", pool[(n + 1) % PHOTO_POOL]),
            ):
                db.session.add(
                    Photo(
                        ticket_id=ticket.id,
                        purpose=purpose,
                        sha256=photo.sha256,
                        width=photo.width,
                        height=photo.height,
                        created_at=at,
                    )
                )
            db.session.add(
                TicketPause(
                    ticket_id=ticket.id,
                    contractor_id=refs["primary"],
                    state=PauseState.ENDED,
                    reason="等待配件：灯具明早到货",
                    resume_expected_at=at + timedelta(hours=12),
                    requested_at=at + timedelta(hours=7),
                    started_at=at + timedelta(hours=8),
                    ended_at=at + timedelta(hours=10),
                    ended_how="contractor",
                    paused_seconds=7200.0,
                    decided_by="李专干",
                )
            )
            db.session.add(
                Rating(ticket_id=ticket.id, stars=4, comment="修得好", created_at=at)
            )
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()


def run(work: Path, count: int) -> None:
    with (
        database(work, "archive") as (url, db_label),
        redis_server(work, 14) as (
            redis_url,
            redis_label,
        ),
    ):
        app = build_app(url, redis_url, work)
        refs = migrate_and_seed(app, work)
        began = time.perf_counter()
        fill(app, refs, count)
        print(f"backends:          {db_label}; {redis_label}")
        print(
            f"filled:            {count} tickets in {time.perf_counter() - began:.1f} s"
        )
        output = work / "archive.zip"
        runner = app.test_cli_runner()
        args = ["archive", "--community", "yangguang", "--year", "2026"]
        began, cpu = time.perf_counter(), time.process_time()
        result = runner.invoke(args=[*args, "-o", str(output)])
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        if result.exit_code != 0:
            raise SystemExit(result.output)
        size = output.stat().st_size
        print(f"archive:           {wall:.1f} s wall, {cpu:.1f} s CPU")
        print(f"per ticket:        {wall / count * 1000:.1f} ms")
        print(
            f"size:              {size / 1e6:.1f} MB "
            f"({size / count / 1024:.0f} KiB per ticket)"
        )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    run_in_work_dir("bench-archive-", None, lambda work: run(work, count))


if __name__ == "__main__":
    main()
