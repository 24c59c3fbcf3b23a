"""How long is left before a deadline, in words no one reads as a clock time."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import gettext as _
from markupsafe import Markup, escape


def countdown_formats() -> dict[str, str]:
    """Returns the five phrasings, with {h} {m} {s} placeholders (for the script)."""
    return {
        "hours": _("%(h)s h %(m)s min left", h="{h}", m="{m}"),
        "minutes": _("%(m)s min %(s)s s left", m="{m}", s="{s}"),
        "late_hours": _("%(h)s h %(m)s min overdue", h="{h}", m="{m}"),
        "late_minutes": _("%(m)s min overdue", m="{m}"),
        # Not "0 min overdue", which an outside tester read as not late at all.
        "late_now": _("just overdue"),
    }


def countdown_text(seconds: float) -> str:
    """Returns "还剩 23 分 53 秒" / "还剩 1 小时 5 分" / "已超时 5 分" / "刚刚超时" (and
    in English "23 min 53 s left" …): hours only from an hour on, seconds only
    under it, and no minutes until a whole one is overdue."""
    formats = countdown_formats()
    seconds = int(seconds)
    if seconds >= 0:
        h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
        text = formats["hours"] if h else formats["minutes"]
    else:
        late = -seconds
        h, m, s = late // 3600, late % 3600 // 60, late % 60
        text = (
            formats["late_hours"]
            if h
            else formats["late_minutes"]
            if m
            else formats["late_now"]
        )
    return text.format(h=h, m=m, s=s)


def countdown(due: datetime, now: datetime, **attributes: str) -> Markup:
    """Renders a live countdown element; the page's script keeps it ticking."""
    formats = countdown_formats()
    extra = "".join(f' {k}="{escape(v)}"' for k, v in attributes.items())
    late = " late" if due < now else ""
    return Markup(
        f'<span class="countdown{late}" data-due="{due.isoformat()}"'
        f' data-hours="{escape(formats["hours"])}"'
        f' data-minutes="{escape(formats["minutes"])}"'
        f' data-late-hours="{escape(formats["late_hours"])}"'
        f' data-late-minutes="{escape(formats["late_minutes"])}"'
        f' data-late-now="{escape(formats["late_now"])}"{extra}>'
        f"{escape(countdown_text((due - now).total_seconds()))}</span>"
    )


#: Keeps every ".countdown[data-due]" ticking, in the phrasings above.
SCRIPT = """
(function () {
  "use strict";
  function fill(text, h, m, s) {
    return text.replace("{h}", h).replace("{m}", m).replace("{s}", s);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Math.floor((new Date(el.dataset.due).getTime() - now) / 1000);
      var late = left < 0, n = Math.abs(left);
      var h = Math.floor(n / 3600), m = Math.floor(n % 3600 / 60), s = n % 60;
      var lateText = m ? el.dataset.lateMinutes : el.dataset.lateNow;
      var text = late ? (h ? el.dataset.lateHours : lateText)
                      : (h ? el.dataset.hours : el.dataset.minutes);
      el.textContent = fill(text, h, m, s);
      el.classList.toggle("late", late);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
"""


def init_app(app: Flask) -> None:
    """Makes the countdown available to every template."""
    app.jinja_env.globals["countdown"] = countdown
    app.jinja_env.globals["COUNTDOWN_SCRIPT"] = Markup(SCRIPT)
