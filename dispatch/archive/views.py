"""The board's download of one ticket's archive (the same zip as the command's,
for one ended ticket): staff only, within the officer's communities."""

from __future__ import annotations

import io

from flask import Blueprint, Flask, abort, send_file

from dispatch.archive.bundle import tickets_in_batches, write_archive
from dispatch.board.auth import staff_only, ticket_or_404
from repair.models import CLOSED_STATUSES

bp = Blueprint("archive", __name__, url_prefix="/board")


@bp.get("/t/<number>/archive.zip")
@staff_only
def ticket_archive(number: str):
    """One ended ticket's record (PDF, JSON, photos, SHA256SUMS) as a zip; 404 for
    another community's ticket and for one still open (its record is not done)."""
    ticket = ticket_or_404(number)
    if ticket.status not in CLOSED_STATUSES:
        abort(404)
    buffer = io.BytesIO()
    write_archive(tickets_in_batches([ticket.id]), buffer, ticket.community)
    buffer.seek(0)
    response = send_file(
        buffer,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{ticket.number}.zip",
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    """Registers the download."""
    app.register_blueprint(bp)
