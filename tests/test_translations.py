"""The Chinese catalogue: complete, and safe to format."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

CATALOGUE = (
    Path(__file__).parents[1] / "repair/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
BARE_PERCENT = re.compile(r"%(?!\(\w+\)[sd]|%)")


def _messages():
    with CATALOGUE.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = (
            message.string if isinstance(message.string, tuple) else (message.string,)
        )
        yield ids, strings, message.fuzzy


def test_every_message_has_a_chinese_translation():
    missing = [
        ids[0] for ids, strings, fuzzy in _messages() if fuzzy or not all(strings)
    ]
    assert missing == []


def test_translations_keep_their_placeholders_and_escape_percent_signs():
    wrong = []
    for ids, strings, _ in _messages():
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if set(PLACEHOLDER.findall(string)) != wanted or BARE_PERCENT.search(
                string
            ):
                wrong.append((ids[0], string))
    assert wrong == []
