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
#: The photos handed to the job that waits for a burst to pass: a set of ids.
WAITING_KEY = "repairdesk:photos:waiting"
#: The token of the one photo job waiting for a burst to pass, while it waits.
WAITER_KEY = "repairdesk:photos:waiter"
#: How long the waiter's token outlives its last look (a waiter that died leaves
#: the photos it was handed to the next burst's waiter, or to the sweep).
WAITER_TTL_MS = 5000
#: How many photos each job shares out after a burst processes.
SHARE_SIZE = 2
#: How long photos handed over are remembered at most (the sweep takes them after
#: JOB_GRACE in any case).
WAITING_MEMORY = 3600

# The web's mark of a photo job; while a job waits for the burst (WAITER_KEY) the
# photos are handed to it instead of a job of their own. Returns 1 when the caller
# is to queue a job, 0 when the waiter has them.
_MARK = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SADD', KEYS[2], unpack(ARGV, 5))
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return 0
end
return 1
"""
# A job in a burst: becomes (or stays) the waiter, or hands its photos to the
# waiter there is. Returns 1 for the waiter, 0 when handed over.
_CLAIM = """
local waiter = redis.call('GET', KEYS[2])
if not waiter then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
elseif waiter == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
redis.call('SADD', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 0
"""
# The waiter's look: while the newest mark is more recent than the quiet time
# (and not forced) returns {0}; else stops waiting and returns {1, ids handed}.
_DRAIN = """
if ARGV[4] == '0' then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if newest[2] and tonumber(ARGV[1]) - tonumber(newest[2]) < tonumber(ARGV[2]) then
    return {0}
  end
end
local ids = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[3] then
  redis.call('DEL', KEYS[3])
end
return {1, unpack(ids)}
"""


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
    """Queues the photo job, or hands the photos to the job waiting for the burst
    to pass; if Redis is away the sweep finds the photos later."""
    queued = time.time()  # at most the job's enqueued_at (wait_for_reports)
    try:
        client = get_redis(app)
        mark = f"{queued!r}:{photo_ids[0]}"
        if client.eval(
            _MARK,
            3,
            QUEUED_KEY,
            WAITING_KEY,
            WAITER_KEY,
            queued,
            mark,
            QUEUED_MEMORY,
            WAITING_MEMORY,
            *photo_ids,
        ):
            _enqueue(client, photo_ids, f"photos-{photo_ids[0]}")
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
    residents are still sending reports (a burst, see wait_for_reports) one job
    waits, the others hand their photos to it and return 0; it gives way to other
    work no free worker takes.
    """
    if not wait_for_reports(photo_ids):
        return 0
    with track_photo_job():
        return sum(process_pending_photo(photo_id) for photo_id in photo_ids)


def wait_for_reports(photo_ids: list[int]) -> bool:
    """Waits while later reports keep coming (a burst), at most PHOTO_YIELD after
    this job was first queued; returns False when its photos went to the job that
    waits, or when it gave way to other jobs.

    A photo's pixels take two to three times the CPU of the report that brought
    it, and on a machine that also serves the web, lowering their priority is not
    enough: measured on two cores, a busy neighbour at the lowest priority
    (SCHED_IDLE) still halved the reports answered per second. So in a burst
    (another photo job queued less than BURST_QUIET before or after this one)
    the display copies wait until no photo job has been queued for BURST_QUIET
    (their pages show "being processed"). A lone report's photo is processed at
    once. The jobs queued before this one count too: an idle worker takes each
    job the moment it is queued, when it is always the newest.

    One job waits for the whole burst (the waiter, WAITER_KEY): the photos of the
    reports that follow are handed to it (WAITING_KEY) instead of a job each, and
    it shares them out in jobs of SHARE_SIZE once the burst has passed. So the
    other workers stay free for the deadlines' rungs and the messages. When other
    work is left waiting (no worker is free), the waiter queues itself again at
    the front of its own queue and returns, and the worker takes that work first.
    (Before, every report's photo job waited, and the one holding each worker gave
    way to every contractor's SMS: measured by bench_submission.py, the workers
    spent 8.2 ms of CPU per 12 MP report while reports came, 5.5-6.0 ms now, most
    of it the SMS.)"""
    job = get_current_job()
    if job is None or job.meta.get("after_burst"):
        return True
    limit = parse_duration(current_app.config["PHOTO_YIELD"]).total_seconds()
    if limit <= 0 or job.enqueued_at is None:
        return True
    first = float(job.meta.get("first_queued") or _epoch(job.enqueued_at))
    token = job.meta.get("waiter")
    client = job.connection
    try:
        # This job's own mark is among them (queued just before first).
        if not token and client.zcount(QUEUED_KEY, first - BURST_QUIET, "+inf") <= 1:
            return True
        token = token or uuid.uuid4().hex
        seen: set[bytes] = set()
        while time.time() < first + limit:
            if not _claim(client, token, photo_ids):
                return False  # the waiter has them now
            handed = _drain(client, token)
            if handed is not None:
                _share(client, handed, photo_ids)
                return True
            heads = _other_work_heads(client)
            if heads & seen:  # left waiting since the last look: no worker is free
                again = f"photos-{photo_ids[0]}-{uuid.uuid4().hex[:8]}"
                _enqueue(
                    client,
                    photo_ids,
                    again,
                    at_front=True,
                    meta={"first_queued": first, "waiter": token},
                )
                return False
            seen = heads
            time.sleep(BURST_POLL)
        _share(client, _drain(client, token, force=True) or [], photo_ids)
    except (redis.RedisError, OSError, ValueError) as problem:
        log.warning("photo job does not wait for the burst: %s", problem)
    return True


def _claim(client: redis.Redis, token: str, photo_ids: list[int]) -> bool:
    """Makes this job the waiter (or keeps it so); False when another waits and
    has been handed the photos."""
    return bool(
        client.eval(
            _CLAIM,
            2,
            WAITING_KEY,
            WAITER_KEY,
            token,
            WAITER_TTL_MS,
            WAITING_MEMORY,
            *photo_ids,
        )
    )


def _drain(client: redis.Redis, token: str, force: bool = False) -> list[int] | None:
    """Returns the photos handed to the waiter once the burst has passed (or at
    once with ``force``), and stops waiting; None while it goes on."""
    found = client.eval(
        _DRAIN,
        3,
        QUEUED_KEY,
        WAITING_KEY,
        WAITER_KEY,
        time.time(),
        BURST_QUIET,
        token,
        int(force),
    )
    if not found or int(found[0]) == 0:
        return None
    return sorted(int(photo_id) for photo_id in found[1:])


def _share(client: redis.Redis, handed: list[int], own: list[int]) -> None:
    """Queues the photos handed to the waiter in jobs of SHARE_SIZE, which do not
    wait: every free worker takes its part while the waiter does its own."""
    handed = [photo_id for photo_id in handed if photo_id not in own]
    for start in range(0, len(handed), SHARE_SIZE):
        part = handed[start : start + SHARE_SIZE]
        _enqueue(
            client,
            part,
            f"photos-{part[0]}-{uuid.uuid4().hex[:8]}",
            meta={"after_burst": True},
        )


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:  # rq records UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _other_work_heads(client: redis.Redis) -> set[bytes]:
    """Returns the ids of the jobs at the head of the queues other than the
    photos'. A free worker takes a job within milliseconds: one still at a head
    a look later waits for this worker."""
    others = [q for q in Queue.all(connection=client) if q.name != QUEUE_NAME]
    if not others:
        return set()
    with client.pipeline(transaction=False) as pipeline:
        for queue in others:
            pipeline.lindex(queue.key, 0)
        return {head for head in pipeline.execute() if head}


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
