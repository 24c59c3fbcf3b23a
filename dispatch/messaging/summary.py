"""Residents' text as it may appear in an SMS: its first words, nothing to follow."""

from __future__ import annotations

import re

import regex

#: Links in any spelling a phone would make clickable: with a scheme, "www.", or a
#: bare domain under a common top-level domain (``ev.cn/x``).
_URL = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://\S*"
    r"|www\.\S*"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:cn|com|net|org|info|top|xyz|io|me|cc|co|"
    r"biz|vip|site|online|link|app)\b\S*)"
)
#: Phone numbers: seven or more digits, allowing +, spaces, dots and dashes between.
_PHONE = re.compile(r"\+?\d(?:[\s.\-()]*\d){6,}")
_SPACE = re.compile(r"\s+")
_DANGLING = " ,，.。;；:：-—/、·"
ELLIPSIS = "…"
#: One character as a reader sees it: an emoji with its skin tone or its joined
#: parts (👨‍👩‍👧), a flag, a letter with its accent.
_GRAPHEME = regex.compile(r"\X")


def whole_start(text: str, limit: int) -> str:
    """Returns the longest start of ``text`` of at most ``limit`` code points that
    cuts no character as a reader sees it in two (a half emoji shows as a box)."""
    if len(text) <= limit:
        return text
    end = 0
    for match in _GRAPHEME.finditer(text):
        if match.end() > limit:
            break
        end = match.end()
    return text[:end]


def summarise(text: str | None, limit: int) -> str:
    """Returns the first words of a resident's text, at most ``limit`` characters:
    no links, no phone numbers, whitespace collapsed, "…" where it was cut."""
    if not text or limit <= 0:
        return ""
    text = _URL.sub(" ", text)
    text = _PHONE.sub(" ", text)
    text = _SPACE.sub(" ", text).strip().strip(_DANGLING).strip()
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = whole_start(text, limit - 1)
    # Latin text is cut between words when a word boundary is not too far back.
    space = cut.rfind(" ")
    if space >= (limit - 1) // 2 and not text[len(cut)].isspace():
        cut = cut[:space]
    return cut.rstrip(_DANGLING) + ELLIPSIS
