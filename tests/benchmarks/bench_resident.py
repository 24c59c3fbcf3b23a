"""Benchmark: the resident's QR page and a report with a 12-megapixel phone photo.

Measures, through the real app (Flask test client, real database and Redis):
- the form page: server time and bytes sent (target: at most 30 KB before photos);
- a full submission with one 4032x3024 JPEG (~3 MB): server time per submission
  (target: <= 250 ms per 12 MP photo on one core) and submissions per second.

Run: .venv/bin/python tests/benchmarks/bench_resident.py [--runs N]
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import (  # noqa: E402  (tests/benchmarks/common.py)
    build_app,
    database,
    migrate_and_seed,
    percentile,
    redis_server,
)
from PIL import Image  # noqa: E402

TARGET_MS = 250
FORM_BUDGET = 30 * 1024
HIDDEN = re.compile(r'name="(csrf_token|submission_key)" type="hidden" value="([^"]*)"')


def phone_photo() -> bytes:
    """Returns a 4032x3024 JPEG that compresses like a photo (~3 MB), rotated 90°."""
    width, height = 4032, 3024
    noise = Image.effect_noise((width // 4, height // 4), 40).resize((width, height))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (noise, gradient, Image.eval(noise, lambda v: 255 - v)))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-resident-"))
    try:
        with (
            database(work, "resident") as (database_url, database_label),
            redis_server(work, 12) as (redis_url, redis_label),
        ):
            print(f"backends: {database_label}; {redis_label}")
            app = build_app(database_url, redis_url, work)
            refs = migrate_and_seed(app, work)
            from repair.db import db
            from repair.models import Entrance

            with app.app_context():
                code = db.session.get(Entrance, refs["entrances"][0]).code
            run(app, code, arguments.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(app, code: str, runs: int) -> None:
    client = app.test_client()
    page_times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(f"/q/{code}")
        page_times.append(time.perf_counter() - start)
        size = len(response.data)
    print(
        f"form page: median {statistics.median(page_times) * 1000:.1f} ms,"
        f" p90 {percentile(page_times, 0.9) * 1000:.1f} ms; {size:,} bytes"
        f" ({size / FORM_BUDGET:.2f}x of the 30 KB budget, one request, no other"
        " hosts)"
    )
    photo = phone_photo()
    print(f"photo: 4032x3024 JPEG, {len(photo) / 1e6:.2f} MB, EXIF orientation 6")
    times = []
    for index in range(runs):
        html = client.get(f"/q/{code}").get_data(as_text=True)
        form = dict(HIDDEN.findall(html))
        data = {
            **form,
            "description": f"第{index}次：楼道灯不亮",
            "spot": "2楼",
            "photos": [(io.BytesIO(photo), "IMG_0001.jpg")],
        }
        start = time.perf_counter()
        response = client.post(
            f"/q/{code}", data=data, content_type="multipart/form-data"
        )
        times.append(time.perf_counter() - start)
        assert response.status_code == 303, response.status_code
    median = statistics.median(times)
    print(
        f"submission with the photo: median {median * 1000:.0f} ms,"
        f" p90 {percentile(times, 0.9) * 1000:.0f} ms"
        f" ({median * 1000 / TARGET_MS:.2f}x of the {TARGET_MS} ms target);"
        f" {1 / median:.1f} submissions/s on one core (the photo, the ticket, its"
        " classification, dispatch and outbox rows, all in the request)"
    )


if __name__ == "__main__":
    main()
