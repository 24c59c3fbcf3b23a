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


def _catalogue() -> dict[str, str]:
    with CATALOGUE.open("rb") as handle:
        catalog = read_po(handle)
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): (
            m.string if isinstance(m.string, str) else m.string[0]
        )
        for m in catalog
        if m.id
    }


def test_every_message_in_the_code_is_in_the_catalogue():
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).parents[1]
    method_map = [
        ("repair/**.py", "python"),
        ("dispatch/**.py", "python"),
        ("printables/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.js", "jinja2"),
    ]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    catalogue = _catalogue()
    missing = sorted(
        {
            (message if isinstance(message, str) else message[0])
            for _file, _line, message, _comments, _context in extract_from_dir(
                root, method_map, keywords=keywords
            )
        }
        - set(catalogue)
    )
    assert missing == []


#: English words that stay English in the Chinese pages (names, codes, units).
_SAME_IN_CHINESE = {"sms", "repairdesk", "csv", "pdf", "svg", "png", "url", "english"}
_URL = re.compile(r"https?://\S+")


def _english_left(html: str, catalogue: dict[str, str]) -> list[str]:
    """Returns the words of our catalogue's English msgids that appear, as words,
    in a page's visible text (tags, attributes other than the visible ones,
    scripts, styles and links left out)."""
    from html.parser import HTMLParser

    vocabulary = {
        word.lower()
        for msgid, string in catalogue.items()
        if msgid != string
        for word in re.findall(r"[A-Za-z]{3,}", re.sub(r"%\(\w+\)[sd]", "", msgid))
    } - _SAME_IN_CHINESE
    texts = []

    class Text(HTMLParser):
        skip = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style"):
                self.skip += 1
            for name, value in attrs:
                if name in ("title", "placeholder", "aria-label", "alt") and value:
                    texts.append(value)

        def handle_endtag(self, tag):
            if tag in ("script", "style"):
                self.skip -= 1

        def handle_data(self, data):
            if not self.skip:
                texts.append(data)

    Text().feed(html)
    return sorted(
        {
            word
            for text in texts
            for word in re.findall(r"[A-Za-z]{3,}", _URL.sub(" ", text))
            if word.lower() in vocabulary
        }
    )


def test_pages_and_sms_in_chinese_leave_no_english_from_our_catalogue(
    app, client, officer, resident
):
    from pathlib import Path as _Path

    import sqlalchemy as sa

    from dispatch.messaging.notify import KINDS, Recipient, render_sms
    from dispatch.models import OutboxMessage
    from repair.db import db
    from tests.actions import ContractorActions
    from tests.factories import find_ticket

    catalogue = _catalogue()
    # the classifier's hint is overridden: the resident chose "doors" for a lift
    number = resident.report(
        description="电梯困人了，卡在5楼", phone="13800138000", category="doors"
    )
    other = resident.report(description="楼道灯不亮", phone="13800138001")
    with app.app_context():
        link = ContractorActions(client, "+8613800000001").link()
        key = find_ticket(number).resident_key
    job_page = client.get(link).get_data(as_text=True)
    officer.act(other, "reject", reason="重复报修")
    pages = {
        "/board": None,
        "/board/cards": None,
        f"/board/t/{number}": None,
        f"/board/t/{other}": None,
        "/board/new": None,
        "/board/stats": None,
        "/outbox": None,
        link: None,
        f"/t/{number}": None,
        f"/t/{number}?k={key}": None,
    }
    left = {}
    found = _english_left(job_page, catalogue)
    if found:
        left["job page"] = found
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 410), path
        found = _english_left(response.get_data(as_text=True), catalogue)
        if found:
            left[path] = found
    with app.test_request_context("/?lang=zh_CN"):
        ticket = find_ticket(number)
        templates = _Path(app.template_folder) / "sms" / "zh_CN"
        for file in sorted(templates.glob("*.txt")):
            for role in KINDS[file.stem][0]:
                body = render_sms(file.stem, Recipient(role, 1, "+86138"), ticket, {})
                found = _english_left(body, catalogue)
                if found:
                    left[f"sms {file.stem} to {role}"] = found
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)))
    assert left == {}


def test_wtforms_messages_come_in_the_requests_language_read_once(app, monkeypatch):
    # Flask-WTF read WTForms' catalogue from disk in every request that built a
    # form: 1.5 ms of each resident's report (py-spy, bench_submission.py).
    from babel import support
    from wtforms import StringField
    from wtforms.validators import DataRequired

    from repair.security import SafeForm

    class Required(SafeForm):
        class Meta:
            csrf = False

        text = StringField(validators=[DataRequired()])

    reads = []
    load = support.Translations.load

    def counted(*args, **kwargs):
        reads.append(args)
        return load(*args, **kwargs)

    monkeypatch.setattr(support.Translations, "load", counted)
    errors = {}
    for lang in ("zh_CN", "zh_CN", "en"):
        with app.test_request_context(f"/?lang={lang}", method="POST", data={}):
            app.preprocess_request()
            form = Required()
            form.validate()
            errors.setdefault(lang, []).append(form.text.errors)
    assert errors["zh_CN"] == [["该字段是必填字段。"]] * 2
    assert errors["en"] == [["This field is required."]]
    assert len(reads) <= 2  # at most once for each language, not for each request
