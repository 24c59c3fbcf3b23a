"""The floor of bench_submission.py: the least a photo report can cost in Flask.

It takes a multipart post, stores the photo as it came and writes one row, nothing
else (no validation of the picture, no metadata stripping, no jobs). Served by
gunicorn: FLOOR_DIR=/tmp/floor gunicorn -w 2 --chdir tests/benchmarks floor_app:app
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from flask import Flask, abort, redirect, request

ROOT = Path(os.environ.get("FLOOR_DIR", "/tmp/repairdesk-floor"))
(ROOT / "photos").mkdir(parents=True, exist_ok=True)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS report"
    " (id INTEGER PRIMARY KEY, description TEXT, photo TEXT)"
)

app = Flask(__name__)


def connect() -> sqlite3.Connection:
    connection = sqlite3.connect(ROOT / "floor.sqlite3", timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(SCHEMA)
    return connection


@app.post("/report")
def report():
    description = request.form.get("description", "")
    photo = request.files.get("photo")
    if not description or photo is None:
        abort(400)
    name = f"{uuid.uuid4().hex}.jpg"
    photo.save(ROOT / "photos" / name)
    connection = connect()
    with connection:  # one transaction: the row
        connection.execute(
            "INSERT INTO report (description, photo) VALUES (?, ?)", (description, name)
        )
    connection.close()
    return redirect(f"/done/{name}", code=303)
