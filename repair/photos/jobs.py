"""The photo job: makes a pending photo's display copy and thumbnail after the commit,
and the sweep that finds photos never processed and originals never used."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from rq import Queue, get_current_job

from repair.broker import get_redis
from repair.config import parse_duration
from repair.db import after_commit, db, object_id, reading, utcnow, writing
from repair.jobs import job
from repair.metrics import track_photo_job
from repair.models import Photo
from repair.photos.processing import PhotoRejected, process_original
from repair.photos.store import original_store, photo_store

log = logging.getLogger(__name__)

#: The photo jobs' own queue, which workers serve last (dispatch.worker.queues): a
#: storm of 12 MP photos never holds back a deadline's rung or an SMS.
QUEUE_NAME = "repairdesk-photos"
#: A pending photo's own job normally runs within seconds; the sweep steps in after.
JOB_GRACE = timedelta(minutes=2)
#: When the photo jobs of the last minute were queued: a sorted set, scored in
#: seconds since the epoch (the web's clock).
QUEUED_KEY = "repairdesk:photos:queued"
#: How long QUEUED_KEY remembers a photo job.
QUEUED_MEMORY = 60
#: Reports are a burst while photo jobs follow each other closer than this; it
#: has passed when no photo job has been queued for this long.
BURST_QUIET = 0.3
#: How often a photo job waiting for a burst to pass looks again.
BURST_POLL = 0.05


#: Photo jobs run in the same frame as every other job.
photo_job = job


def process_after_commit(photos: list[Photo]) -> None:
    """Queues the photo job for these photos once the transaction commits; their ids
    are read then, so they need not be flushed before."""
    app = current_app._get_current_object()
    pending = [photo for photo in photos if photo.is_pending]
    if pending:
        after_commit(
            lambda: enqueue_processing(app, [object_id(photo) for photo in pending]),
            key=("photos", *(id(photo) for photo in pending)),
        )


def enqueue_processing(app: Flask, photo_ids: list[int]) -> bool:
    """Queues the photo job; if Redis is away the sweep finds the photos later."""
    queued = time.time()  # at most the job's enqueued_at (wait_for_reports)
    try:
        client = get_redis(app)
        with client.pipeline() as pipeline:
            _enqueue(client, photo_ids, f"photos-{photo_ids[0]}", pipeline=pipeline)
            pipeline.zadd(QUEUED_KEY, {f"{queued!r}:{photo_ids[0]}": queued})
            pipeline.zremrangebyscore(QUEUED_KEY, "-inf", queued - QUEUED_MEMORY)
            pipeline.expire(QUEUED_KEY, QUEUED_MEMORY)
            pipeline.execute()
    except (redis.RedisError, OSError):
        log.warning("Redis unavailable; photos %s left to the sweep", photo_ids)
        return False
    return True


def _enqueue(client: redis.Redis, photo_ids: list[int], job_id: str, **options):
    Queue(QUEUE_NAME, connection=client).enqueue(
        process_photos, photo_ids, job_id=job_id, result_ttl=600, **options
    )


@photo_job
def process_photos(photo_ids: list[int]) -> int:
    """Processes each pending photo of the list; returns how many it finished.

    Counted with its duration in the worker's metrics (repair.metrics). While
    residents are still sending reports (a burst, see wait_for_reports) the job
    waits; if other jobs are queued meanwhile it gives way to them.
    """
    if not wait_for_reports(photo_ids):
        return 0
    with track_photo_job():
        return sum(process_pending_photo(photo_id) for photo_id in photo_ids)


def wait_for_reports(photo_ids: list[int]) -> bool:
    """Waits while later reports keep coming (a burst), at most PHOTO_YIELD after
    this job was first queued; returns False when it gave way to other jobs.

    A photo's pixels take two to three times the CPU of the report that brought
    it, and on a machine that also serves the web, lowering their priority is not
    enough: measured on two cores, a busy neighbour at the lowest priority
    (SCHED_IDLE) still halved the reports answered per second. So in a burst
    (another photo job queued less than BURST_QUIET before or after this one)
    the display copy waits until no photo job has been queued for BURST_QUIET
    (its page shows "being processed"). A lone report's photo is processed at
    once. The jobs queued before this one count too: an idle worker takes each
    job the moment it is queued, when it is always the newest. Deadlines' rungs
    and messages do not wait behind it: if
    any other queue has work, the job queues itself again at the front of its
    own queue and returns, and the worker takes that work first."""
    limit = parse_duration(current_app.config["PHOTO_YIELD"]).total_seconds()
    job = get_current_job()
    if limit <= 0 or job is None or job.enqueued_at is None:
        return True
    first = float(job.meta.get("first_queued") or _epoch(job.enqueued_at))
    client = job.connection
    try:
        # This job's own mark is among them (queued just before first).
        if client.zcount(QUEUED_KEY, first - BURST_QUIET, "+inf") <= 1:
            return True
        while time.time() < first + limit:
            newest = client.zrange(QUEUED_KEY, -1, -1, withscores=True)
            if not newest or time.time() - newest[0][1] >= BURST_QUIET:
                return True
            if _other_work_waiting(client):
                again = f"photos-{photo_ids[0]}-{uuid.uuid4().hex[:8]}"
                _enqueue(
                    client,
                    photo_ids,
                    again,
                    at_front=True,
                    meta={"first_queued": first},
                )
                return False
            time.sleep(BURST_POLL)
    except (redis.RedisError, OSError, ValueError) as problem:
        log.warning("photo job does not wait for the burst: %s", problem)
    return True


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # rq records UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _other_work_waiting(client: redis.Redis) -> bool:
    """Returns whether a queue other than the photos' holds jobs."""
    others = [q for q in Queue.all(connection=client) if q.name != QUEUE_NAME]
    if not others:
        return False
    with client.pipeline(transaction=False) as pipeline:
        for queue in others:
            pipeline.llen(queue.key)
        return any(pipeline.execute())


def process_pending_photo(photo_id: int) -> bool:
    """Makes the display copy and thumbnail of a pending photo and marks it ready.

    Idempotent: a photo already ready is left alone. The pixels are worked on
    outside any transaction; the write that follows is one short UPDATE.
    """
    with reading():
        photo = db.session.get(Photo, photo_id)
        original = photo.original if photo is not None and photo.is_pending else None
        db.session.rollback()
    if original is None:
        return False
    originals = original_store()
    config = current_app.config
    try:
        processed = (
            _pixel_worker(int(config["PHOTO_NICE"]))
            .submit(
                process_original,
                originals.read(original),
                max_bytes=int(config["PHOTO_MAX_BYTES"]),
                max_pixels=int(config["PHOTO_MAX_PIXELS"]),
            )
            .result()
        )
    except (PhotoRejected, FileNotFoundError) as problem:
        log.warning("photo %s cannot be processed: %s", photo_id, problem)
        _finish(original, state="failed")
        return False
    photo_store().save(processed)
    _finish(
        original,
        state="ready",
        sha256=processed.sha256,
        width=processed.width,
        height=processed.height,
    )
    return True


_pixel_workers: dict[int, ThreadPoolExecutor] = {}
_pixel_workers_lock = threading.Lock()


def _pixel_worker(nice: int) -> ThreadPoolExecutor:
    """Returns the thread that decodes, resizes and encodes photos in this process.

    On Linux its scheduling priority is lowered by ``nice`` (REPAIRDESK_PHOTO_NICE),
    so on a machine that also serves web requests a burst of photos takes the CPU
    the residents' POSTs leave over instead of competing with them; Pillow releases
    the GIL for that work. The job's other steps (the database, the stores) stay
    at the worker's own priority."""
    with _pixel_workers_lock:
        executor = _pixel_workers.get(nice)
        if executor is None:
            executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="photo-pixels",
                initializer=_lower_priority,
                initargs=(nice,),
            )
            _pixel_workers[nice] = executor
        return executor


def _lower_priority(nice: int) -> None:
    # A Linux thread has its own nice value; elsewhere it would change the whole
    # process's, so there the pixels run at the worker's priority.
    if nice > 0 and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as problem:
            log.warning("photo thread keeps its priority: %s", problem)


def _finish(original: str, **values: Any) -> None:
    keep = bool(current_app.config.get("KEEP_ORIGINALS"))
    with writing():
        db.session.rollback()  # begin afresh: this transaction writes
        db.session.execute(
            sa.update(Photo)
            .where(Photo.original == original, Photo.state == "pending")
            .values(original=original if keep else None, **values)
        )
        db.session.commit()
    if not keep or values["state"] == "failed":
        original_store().delete(original)
    else:
        original_store().release(original)  # a ticket's now: no longer "kept"


@photo_job
def sweep_photos(now: datetime | None = None, limit: int = 20) -> dict:
    """Processes photos whose job was lost; deletes originals no photo uses.

    Originals of rejected or abandoned posts (kept for the form shown again) expire
    after PHOTO_ORIGINAL_TTL. Called by the worker's minute sweep.
    """
    now = now or utcnow()
    with reading():
        late = list(
            db.session.scalars(
                sa.select(Photo.id)
                .where(Photo.state == "pending", Photo.created_at < now - JOB_GRACE)
                .order_by(Photo.id)
                .limit(limit)
            )
        )
        db.session.rollback()
    processed = sum(process_pending_photo(photo_id) for photo_id in late)
    expired = expire_originals(now)
    if processed or expired:
        log.info("photo sweep: %s processed, %s originals expired", processed, expired)
    return {"processed": processed, "expired_originals": expired}


def expire_originals(now: datetime) -> int:
    """Deletes originals older than PHOTO_ORIGINAL_TTL that no photo row refers to
    (with their quota markers); releases the markers of those a photo refers to."""
    ttl = parse_duration(current_app.config.get("PHOTO_ORIGINAL_TTL", "2h"))
    originals = original_store()
    candidates = list(originals.older_than(ttl.total_seconds(), now.timestamp()))
    originals.kept()  # drops markers whose original is gone
    if not candidates:
        return 0
    with reading():
        used = set(
            db.session.scalars(
                sa.select(Photo.original).where(Photo.original.in_(candidates))
            )
        )
        db.session.rollback()
    expired = [sha256 for sha256 in candidates if sha256 not in used]
    for sha256 in expired:
        originals.delete(sha256)
    for sha256 in used:
        originals.release(sha256)
    return len(expired)
