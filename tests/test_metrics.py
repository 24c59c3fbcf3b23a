"""Prometheus metrics at /metrics: behind a bearer token, counting what happened."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from repair import create_app
from repair.db import utcnow

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-secret"


def _sample(text: str, name: str, **labels: str) -> float:
    """Returns the value of one sample in an exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return sample.value
    return 0.0


def _scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


@pytest.fixture
def settings(settings):
    settings["METRICS_TOKEN"] = TOKEN
    return settings


def test_metrics_are_off_without_a_token(settings, app):
    plain = create_app({**settings, "METRICS_TOKEN": ""})
    assert plain.test_client().get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (
        client.get("/metrics", headers={"Authorization": "Basic x"}).status_code == 401
    )
    _scrape(client)


def test_metrics_count_submissions_messages_rungs_and_queues(
    app, client, resident, jobs
):
    before = _scrape(client)
    resident.report()
    during = _scrape(client)
    submitted = sum(
        _sample(during, "repairdesk_submissions_total", channel="qr", urgency=u)
        - _sample(before, "repairdesk_submissions_total", channel="qr", urgency=u)
        for u in ("urgent", "general", "unclassified")
    )
    assert submitted == 1
    assert (
        sum(
            _sample(during, "repairdesk_tickets_open", state=s)
            for s in ("new", "dispatched")
        )
        == 1
    )
    assert _sample(during, "repairdesk_queue_depth", queue="repairdesk") >= 1
    assert _sample(during, "repairdesk_queue_scheduled", queue="repairdesk-sla") >= 1
    assert _sample(during, "repairdesk_redis_up") == 1
    assert (
        _sample(
            during,
            "repairdesk_request_seconds_count",
            endpoint="resident.report",
            method="POST",
        )
        >= 1
    )

    jobs.run_due()
    with freeze_time(utcnow() + timedelta(days=3)):
        jobs.run_due()  # every rung of the ladder falls due
    after = _scrape(client)
    sent = _sample(after, "repairdesk_sms_sent_total", backend="console") - _sample(
        during, "repairdesk_sms_sent_total", backend="console"
    )
    assert sent >= 1
    rungs = sum(
        s.value
        for f in text_string_to_metric_families(after)
        for s in f.samples
        if s.name == "repairdesk_sla_rungs_total"
    ) - sum(
        s.value
        for f in text_string_to_metric_families(during)
        for s in f.samples
        if s.name == "repairdesk_sla_rungs_total"
    )
    assert rungs >= 1
    late = sum(
        _sample(after, "repairdesk_sla_lateness_seconds_count", clock=c)
        - _sample(during, "repairdesk_sla_lateness_seconds_count", clock=c)
        for c in ("triage", "contact", "on_site")
    )
    assert late >= 1


_WORKER = """
from repair.metrics import SMS_SENT
SMS_SENT.labels("console").inc(3)
"""

_WEB = """
import json, sys
from repair import create_app
settings = json.loads(sys.argv[1])
app = create_app(settings)
bearer = {"Authorization": "Bearer " + settings["METRICS_TOKEN"]}
print(app.test_client().get("/metrics", headers=bearer).get_data(as_text=True))
"""


def test_workers_counts_reach_the_web_scrape_in_multiprocess_mode(
    settings, app, tmp_path
):
    import json

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", _WORKER], env=env, check=True, timeout=60)
    web = subprocess.run(
        [sys.executable, "-c", _WEB, json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert web.returncode == 0, web.stderr[-2000:]
    assert _sample(web.stdout, "repairdesk_sms_sent_total", backend="console") == 6


def test_photo_jobs_and_their_duration_are_counted(app, client, resident, jobs):
    before = _scrape(client)
    resident.report()
    assert _sample(_scrape(client), "repairdesk_photo_jobs_total", outcome="ok") == (
        _sample(before, "repairdesk_photo_jobs_total", outcome="ok")
    )

    jobs.run_due()  # the photo job runs in this process (a SimpleWorker)

    after = _scrape(client)
    for name, labels in (
        ("repairdesk_photo_jobs_total", {"outcome": "ok"}),
        ("repairdesk_photo_job_seconds_count", {}),
    ):
        assert _sample(after, name, **labels) - _sample(before, name, **labels) == 1
    assert _sample(after, "repairdesk_photo_job_seconds_sum") > _sample(
        before, "repairdesk_photo_job_seconds_sum"
    )


def test_a_photo_job_that_fails_counts_as_an_error(app, client, monkeypatch):
    from repair.photos import jobs as photo_jobs

    def broken(photo_id):
        raise OSError("object store unreachable")

    monkeypatch.setattr(photo_jobs, "process_pending_photo", broken)
    before = _scrape(client)
    with app.app_context(), pytest.raises(OSError):
        photo_jobs.process_photos([1])
    after = _scrape(client)
    assert (
        _sample(after, "repairdesk_photo_jobs_total", outcome="error")
        - _sample(before, "repairdesk_photo_jobs_total", outcome="error")
        == 1
    )


_PHOTO_WORKER = """
import json, sys
from repair import create_app
from repair.photos.jobs import process_photos
app = create_app(json.loads(sys.argv[1]))
with app.app_context():
    print(process_photos(json.loads(sys.argv[2])))
"""


def test_a_worker_processs_photo_jobs_reach_the_web_scrape(
    settings, app, resident, tmp_path
):
    import json

    import sqlalchemy as sa

    from repair.db import db
    from repair.models import Photo

    resident.report()
    with app.app_context():
        photo_ids = db.session.scalars(sa.select(Photo.id)).all()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    worker = subprocess.run(
        [
            sys.executable,
            "-c",
            _PHOTO_WORKER,
            json.dumps(settings),
            json.dumps(photo_ids),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert worker.stdout.strip().splitlines()[-1] == "1"
    web = subprocess.run(
        [sys.executable, "-c", _WEB, json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert web.returncode == 0, web.stderr[-2000:]
    assert _sample(web.stdout, "repairdesk_photo_jobs_total", outcome="ok") == 1
    assert _sample(web.stdout, "repairdesk_photo_job_seconds_count") == 1
