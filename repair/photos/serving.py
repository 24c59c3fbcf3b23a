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
    svg = render_template(
        "photos/placeholder.svg", text=text, font_size=_font_size(text)
    )
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    return response


#: The width the text may take in the 320 px wide image: a thumbnail (88 px
#: square, object-fit: cover) shows only its middle 240 px.
_TEXT_WIDTH = 220


def _font_size(text: str) -> int:
    """Returns a font size (px, at most 20) at which the text fits _TEXT_WIDTH: a
    CJK character is about 1 em wide, others about 0.55 em."""
    ems = sum(1.0 if ord(char) >= 0x2E80 else 0.55 for char in text)
    return max(10, min(20, int(_TEXT_WIDTH / max(ems, 1))))
