"""What a page shows for a photo whose display copy is not (or cannot be) made."""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import gettext as _


def placeholder_response(state: str) -> Response:
    """Returns the "photo being processed" ("unavailable", or "changed": a link
    handed out while it was processed) image, never cached."""
    texts = {
        "failed": _("Photo unavailable"),
        "changed": _("Photo ready: refresh the page"),
    }
    text = texts.get(state) or _("Photo being processed")
    svg = render_template("photos/placeholder.svg", text=text)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response
