"""Urgency and category classification of resident repair descriptions.

The vocabulary lives in ``dispatch/rules/urgency.toml`` (or the file named by
``REPAIRDESK_CLASSIFIER_RULES``); this module only applies it.

Reasons are strings ``"<kind>:<category>:<detail>"`` so the board can show them
in either language (translate ``kind`` in the catalogue and ``category`` with
``Rules.labels``; ``detail`` is the resident's own words):

- ``urgent:lift:困人`` an urgent term; ``urgent:lift:电梯+坏`` a symptom (``坏``)
  that is urgent for its subject (``电梯``);
- ``negated:gas:煤气味`` / ``resolved:water:水管+爆`` an urgent term that was
  negated or said to be fixed, so it did not count;
- ``hedged:gas:好像`` uncertain wording next to an urgent term (still urgent);
- ``hint:doors:kept`` / ``hint:doors:overridden`` the resident's category;
- ``category:lighting:路灯`` the words that decided the category;
- ``model:lift:趴窝 0.41, 电梯 0.20`` the learned layer (``dispatch.triage.model``)
  found the report urgent; the n-grams that pushed it, with their logit shares;
- ``model-veto:gas:煤气味 p=0.021`` the learned layer overruled the rules'
  urgent verdict (its probability was under the model file's veto threshold);
  the rules' ``urgent:`` reasons follow it.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dispatch.triage.model import UrgencyModel, load_model, rule_clues

URGENT = "urgent"
GENERAL = "general"
FALLBACK_CATEGORY = "other"
RULES_ENV = "REPAIRDESK_CLASSIFIER_RULES"
DEFAULT_RULES_PATH = Path(__file__).with_name("rules") / "urgency.toml"
#: The packaged rules as ``Rules.source`` names them (the model may veto only these).
_PACKAGED_SOURCE = str(DEFAULT_RULES_PATH.resolve())

_SETTINGS_DEFAULTS = {
    "negation_chars": 5,
    "negation_words": 3,
    "subject_before": 14,
    "subject_after": 8,
    "resolved_after": 24,
    "hedge_before": 12,
    "intense_window": 12,
    "near_window": 14,
    "unless_window": 8,
}
_LEXICON_KINDS = (
    "resolved",
    "normal",
    "hedges",
    "intensifiers",
    "symptoms",
    "neutral",
    "parts",
)
_SENTENCE_BREAK = re.compile(r"[。！？!?\n]|\.(?:\s|$)")
_CLAUSE_BREAK = re.compile(
    r"[。！？!?\n，,；;：:]|\.(?:\s|$)|但是|但|可是|不过|(?<![a-z])(?:but|however)(?![a-z])"
)
_ASCII_WORD = re.compile(r"[a-z0-9']+")
_LOCATIVE = re.compile(r"(?:里面|里头|里|内)的")
_CONTRACTIONS = (
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcan't\b"), "can not"),
)
_NOT_SUFFIX = re.compile(r"n't\b")


@dataclass(frozen=True)
class Classification:
    """The classifier's verdict on one report."""

    urgency: str
    category: str
    reasons: tuple[str, ...]

    @property
    def is_urgent(self) -> bool:
        """Returns True when the report needs the urgent SLA."""
        return self.urgency == URGENT

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict (urgency, category, reasons)."""
        return {
            "urgency": self.urgency,
            "category": self.category,
            "reasons": list(self.reasons),
        }

    def to_json(self) -> str:
        """Returns the verdict as one line of JSON, non-ASCII kept readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass(frozen=True)
class Rule:
    """An urgent phrase list with the conditions under which it applies."""

    category: str
    subject: str = "fixed"
    subjects: frozenset[str] = frozenset()
    near: frozenset[str] = frozenset()
    near_categories: frozenset[str] = frozenset()
    unless: frozenset[str] = frozenset()
    needs_intensifier: bool = False


@dataclass(frozen=True)
class Role:
    """One meaning of a phrase: a category term, a rule or a lexicon word."""

    kind: str
    category: str = ""
    rule: int = -1


@dataclass(frozen=True)
class Rules:
    """Compiled classifier vocabulary loaded from a TOML rules file."""

    categories: tuple[str, ...]
    labels: dict[str, dict[str, str]]
    roles: dict[str, tuple[Role, ...]]
    forms: dict[str, str]
    lengths: dict[str, tuple[int, ...]]
    rules: tuple[Rule, ...]
    urgent_symptoms: dict[str, frozenset[str]]
    #: a category's terms too general to say which problem it is (水): they
    #: count half and do not name the category
    generic_terms: dict[str, frozenset[str]]
    #: where an urgent report of a category goes when its words name none of
    #: that category's own terms and point there too (a flood → the drains)
    unnamed_urgent_to: dict[str, str]
    hedges_downgrade: frozenset[str]
    negators_zh: tuple[str, ...]
    negators_en: frozenset[str]
    settings: dict[str, int]
    source: str

    def label(self, category: str, lang: str = "zh") -> str:
        """Returns the display name of a category in "zh" or "en"."""
        return self.labels.get(category, {}).get(lang, category)


@dataclass
class _Match:
    start: int
    end: int
    text: str
    roles: tuple[Role, ...]


def normalize(text: str) -> str:
    """Returns text folded for matching: NFKC, traditional characters simplified
    (電梯 → 电梯, 煤氣 → 煤气), lower case, contractions expanded."""
    text = _simplified(unicodedata.normalize("NFKC", text)).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _NOT_SUFFIX.sub(" not", text)
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _simplified(text: str) -> str:
    """Returns text with traditional characters written simplified (OpenCC t2s)."""
    if text.isascii():
        return text
    return _t2s().convert(text)


def _is_ascii(phrase: str) -> bool:
    return phrase.isascii()


def _surface_forms(phrase: str) -> list[str]:
    """Returns the spellings a phrase is matched under (English plurals added)."""
    if _is_ascii(phrase) and phrase[-1].isalpha():
        return [phrase, phrase + "s", phrase + "es"]
    return [phrase]


def _lengths_by_first_char(forms: dict[str, str]) -> dict[str, tuple[int, ...]]:
    """Returns, per first character, the phrase lengths to try, longest first."""
    lengths: dict[str, set[int]] = {}
    for form in forms:
        lengths.setdefault(form[0], set()).add(len(form))
    return {char: tuple(sorted(found, reverse=True)) for char, found in lengths.items()}


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _clean_list(values: Any, where: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where} must be a list of strings")
    return [normalize(v) for v in values if v.strip()]


def compile_rules(data: dict[str, Any], source: str = "<memory>") -> Rules:
    """Returns Rules compiled from a parsed TOML document (raises ValueError)."""
    settings = {**_SETTINGS_DEFAULTS, **data.get("settings", {})}
    lexicon = data.get("lexicon", {})
    categories_table = data.get("categories", {})
    if FALLBACK_CATEGORY not in categories_table:
        raise ValueError(f"{source}: [categories.{FALLBACK_CATEGORY}] is required")
    roles: dict[str, list[Role]] = {}

    def add(phrases: list[str], role: Role) -> None:
        for phrase in phrases:
            bucket = roles.setdefault(phrase, [])
            if role not in bucket:
                bucket.append(role)

    for kind in _LEXICON_KINDS:
        add(_clean_list(lexicon.get(kind), f"lexicon.{kind}"), Role(kind.rstrip("s")))
    rules: list[Rule] = []
    urgent_symptoms: dict[str, frozenset[str]] = {}
    labels: dict[str, dict[str, str]] = {}
    downgrade: set[str] = set()
    generic: dict[str, frozenset[str]] = {}
    unnamed_urgent_to: dict[str, str] = {}
    for slug, table in categories_table.items():
        where = f"categories.{slug}"
        labels[slug] = {
            "zh": table.get("label_zh", slug),
            "en": table.get("label_en", slug),
        }
        if table.get("hedges_downgrade", False):
            downgrade.add(slug)
        terms = _clean_list(table.get("terms"), f"{where}.terms")
        add(terms, Role("term", slug))
        generic[slug] = frozenset(
            _clean_list(table.get("generic_terms"), f"{where}.generic_terms")
        )
        if not generic[slug] <= set(terms):
            raise ValueError(
                f"{source}: {where}.generic_terms must be among its terms: "
                f"{sorted(generic[slug] - set(terms))}"
            )
        goes_to = table.get("unnamed_urgent_to")
        if goes_to is not None:
            if goes_to not in categories_table or goes_to == slug:
                raise ValueError(
                    f"{source}: {where}.unnamed_urgent_to {goes_to!r} is not "
                    "another category"
                )
            unnamed_urgent_to[slug] = goes_to
        for key, intense in (("urgent", False), ("urgent_when_intense", True)):
            phrases = _clean_list(table.get(key), f"{where}.{key}")
            if phrases:
                rules.append(Rule(category=slug, needs_intensifier=intense))
                add(phrases, Role("rule", slug, len(rules) - 1))
        symptoms = _clean_list(table.get("urgent_symptoms"), f"{where}.urgent_symptoms")
        urgent_symptoms[slug] = frozenset(symptoms)
        add(symptoms, Role("symptom"))
    for index, table in enumerate(data.get("rules", [])):
        where = f"rules[{index}]"
        category = table.get("category")
        if category not in categories_table:
            raise ValueError(f"{source}: {where}.category {category!r} is unknown")
        subject = table.get("subject", "fixed")
        if subject not in ("fixed", "first"):
            raise ValueError(f"{source}: {where}.subject must be 'fixed' or 'first'")
        near = _clean_list(table.get("near"), f"{where}.near")
        near_categories = {n[1:] for n in near if n.startswith("@")}
        subjects = set(table.get("subjects", categories_table))
        unknown = (near_categories | subjects) - set(categories_table)
        if unknown:
            raise ValueError(f"{source}: {where} names unknown {sorted(unknown)}")
        rules.append(
            Rule(
                category=category,
                subject=subject,
                subjects=frozenset(subjects),
                near=frozenset(n for n in near if not n.startswith("@")),
                near_categories=frozenset(near_categories),
                unless=frozenset(_clean_list(table.get("unless"), f"{where}.unless")),
                needs_intensifier=bool(table.get("needs_intensifier", False)),
            )
        )
        phrases = _clean_list(table.get("terms"), f"{where}.terms")
        add(phrases, Role("rule", category, len(rules) - 1))
        for extra in (rules[-1].near, rules[-1].unless):
            add(sorted(extra), Role("context"))
    if not roles:
        raise ValueError(f"{source}: no terms")
    forms: dict[str, str] = {}
    for phrase in sorted(roles, key=len, reverse=True):
        for form in _surface_forms(phrase):
            forms.setdefault(form, phrase)
    for phrase in roles:
        forms[phrase] = phrase
    negators = _clean_list(lexicon.get("negators"), "lexicon.negators")
    return Rules(
        categories=tuple(categories_table),
        labels=labels,
        roles={phrase: tuple(found) for phrase, found in roles.items()},
        forms=forms,
        lengths=_lengths_by_first_char(forms),
        rules=tuple(rules),
        urgent_symptoms=urgent_symptoms,
        generic_terms=generic,
        unnamed_urgent_to=unnamed_urgent_to,
        hedges_downgrade=frozenset(downgrade),
        negators_zh=tuple(n for n in negators if not _is_ascii(n)),
        negators_en=frozenset(n for n in negators if _is_ascii(n)),
        settings={k: int(v) for k, v in settings.items()},
        source=source,
    )


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Rules:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return compile_rules(data, source=path)


def load_rules(path: str | os.PathLike[str] | None = None) -> Rules:
    """Returns the compiled rules from path, $REPAIRDESK_CLASSIFIER_RULES or the
    packaged file, cached until the file changes."""
    chosen = path or os.environ.get(RULES_ENV) or DEFAULT_RULES_PATH
    resolved = str(Path(chosen).resolve())
    return _load_cached(resolved, os.stat(resolved).st_mtime_ns)


def _candidates(text: str, rules: Rules) -> list[tuple[int, int, str]]:
    """Returns the longest phrase starting at each position (English phrases only
    at word boundaries)."""
    found: list[tuple[int, int, str]] = []
    size = len(text)
    for start in range(size):
        lengths = rules.lengths.get(text[start])
        if lengths is None:
            continue
        starts_word = start == 0 or not _is_word_char(text[start - 1])
        if _is_word_char(text[start]) and not starts_word:
            continue
        for length in lengths:
            end = start + length
            if end > size:
                continue
            form = text[start:end]
            phrase = rules.forms.get(form)
            if phrase is None:
                continue
            if form.isascii() and end < size and _is_word_char(text[end]):
                continue
            if form.isascii() and not starts_word:
                continue
            found.append((start, end, phrase))
            break
    return found


def _longest_matches(text: str, rules: Rules) -> list[_Match]:
    """Returns non-overlapping phrase matches, longest first, in text order."""
    candidates = _candidates(text, rules)
    candidates.sort(key=lambda found: (found[0] - found[1], found[0]))
    taken = [False] * len(text)
    matches: list[_Match] = []
    for start, end, phrase in candidates:
        if any(taken[start:end]):
            continue
        taken[start:end] = [True] * (end - start)
        matches.append(_Match(start, end, text[start:end], rules.roles[phrase]))
    matches.sort(key=lambda match: match.start)
    return matches


class _Analysis:
    """Matches in one normalized text, with the window arithmetic around them."""

    def __init__(self, text: str, rules: Rules) -> None:
        self.text = text
        self.rules = rules
        self.matches = _longest_matches(text, rules)
        masked = list(text)
        for match in self.matches:
            masked[match.start : match.end] = "\0" * (match.end - match.start)
        self.masked = "".join(masked)
        self.by_kind: dict[str, list[_Match]] = {}
        for match in self.matches:
            for kind in {role.kind for role in match.roles}:
                self.by_kind.setdefault(kind, []).append(match)
        self.sentences = [m.end() for m in _SENTENCE_BREAK.finditer(text)]
        self.clauses = [m.end() for m in _CLAUSE_BREAK.finditer(text)]
        units = [0]
        for index, char in enumerate(text):
            weight = 0
            if "\u3400" <= char <= "\u9fff":
                weight = 1
            elif char.isascii() and char.isalnum():
                previous = text[index - 1] if index else " "
                weight = 0 if previous.isascii() and previous.isalnum() else 2
            units.append(units[-1] + weight)
        self.units = units
        self.owners: dict[int, str] = {}
        self.modifiers: set[int] = set()
        terms = self.kinds("term")
        for previous, term in zip(terms, terms[1:], strict=False):
            if not self.same_clause(previous.start, term.start):
                continue
            is_part = any(r.kind == "part" for r in term.roles)
            if is_part and self.gap(previous, term) <= 3:
                self.owners[term.start] = self.category_of(previous)
            elif (
                not is_part
                and self.gap(previous, term) == 0
                and self.category_of(previous) != self.category_of(term)
            ):
                self.modifiers.add(previous.start)

    def category_of(self, term: _Match) -> str:
        """Returns a term's category; a part (glass, lock) takes its owner's."""
        owner = self.owners.get(term.start)
        if owner is not None:
            return owner
        return next(r.category for r in term.roles if r.kind == "term")

    def distance(self, a: int, b: int) -> int:
        """Returns the units of text between positions a <= b."""
        return self.units[b] - self.units[a]

    def _unit_start(self, breaks: list[int], position: int) -> int:
        index = bisect.bisect_right(breaks, position) - 1
        return breaks[index] if index >= 0 else 0

    def _unit_end(self, breaks: list[int], position: int) -> int:
        index = bisect.bisect_right(breaks, position)
        return breaks[index] if index < len(breaks) else len(self.text)

    def same_sentence(self, a: int, b: int) -> bool:
        """Returns True when positions a <= b lie in one sentence."""
        return self._unit_start(self.sentences, a) == self._unit_start(
            self.sentences, b
        )

    def same_clause(self, a: int, b: int) -> bool:
        """Returns True when positions a <= b lie in one clause."""
        return self._unit_start(self.clauses, a) == self._unit_start(self.clauses, b)

    def is_negated(self, match: _Match) -> bool:
        """Returns True when a negator shortly precedes the match in its clause."""
        start = self._unit_start(self.clauses, match.start)
        window = self.masked[start : match.start]
        settings = self.rules.settings
        tail = window[-settings["negation_chars"] :]
        if any(negator in tail for negator in self.rules.negators_zh):
            return True
        words = _ASCII_WORD.findall(window)[-settings["negation_words"] :]
        return any(word in self.rules.negators_en for word in words)

    def kinds(self, kind: str) -> list[_Match]:
        """Returns the matches having a role of the given kind."""
        return self.by_kind.get(kind, [])

    def subject_for(self, match: _Match) -> _Match | None:
        """Returns the category term a symptom describes, nearest before first."""
        settings = self.rules.settings
        before = [
            term
            for term in self.kinds("term")
            if term.end <= match.start
            and self.same_sentence(term.start, match.start)
            and self.distance(term.end, match.start) <= settings["subject_before"]
        ]
        if before:
            return before[-1]
        for term in self.kinds("term"):
            if (
                term.start >= match.end
                and self.same_sentence(match.end, term.start)
                and self.distance(match.end, term.start) <= settings["subject_after"]
            ):
                return term
        return None

    def first_subject(self, match: _Match) -> _Match | None:
        """Returns the first category term in the match's sentence, if any."""
        for term in self.kinds("term"):
            if term is not match and self.same_sentence(
                min(term.start, match.start), max(term.start, match.start)
            ):
                return term
        return None

    def is_resolved(self, match: _Match, category: str) -> bool:
        """Returns True when a non-negated "fixed" marker follows in the sentence."""
        limit = self.rules.settings["resolved_after"]
        for marker in self.kinds("resolved"):
            if marker.start < match.end or not self.same_sentence(
                match.end, marker.start
            ):
                continue
            if self.distance(match.end, marker.start) > limit:
                break
            between = [
                t
                for t in self.kinds("term")
                if match.end <= t.start < marker.start
                and all(r.category != category for r in t.roles if r.kind == "term")
            ]
            if not between and not self.is_negated(marker):
                return True
        return False

    def is_normal(self, match: _Match) -> bool:
        """Returns True when the term is followed by "is fine" in its clause."""
        return any(
            marker.start >= match.end
            and self.same_clause(match.end, marker.start)
            and self.distance(match.end, marker.start) <= 4
            for marker in self.kinds("normal")
        )

    def gap(self, first: _Match, second: _Match) -> int:
        """Returns the units between two matches (0 when they overlap)."""
        if first.end <= second.start:
            return self.distance(first.end, second.start)
        if second.end <= first.start:
            return self.distance(second.end, first.start)
        return 0

    def nearby(self, match: _Match, kind: str, window: int) -> _Match | None:
        """Returns a non-negated match of a kind within window units in the same
        sentence."""
        for other in self.kinds(kind):
            a, b = sorted((other.start, match.start))
            if (
                other is not match
                and self.gap(match, other) <= window
                and self.same_sentence(a, b)
                and not self.is_negated(other)
            ):
                return other
        return None

    def hedge_before(self, match: _Match) -> _Match | None:
        """Returns a hedge shortly before the match in its sentence, if any."""
        window = self.rules.settings["hedge_before"]
        for hedge in reversed(self.kinds("hedge")):
            if (
                hedge.end <= match.start
                and self.same_sentence(hedge.start, match.start)
                and self.distance(hedge.end, match.start) <= window
            ):
                return hedge
        return None


def _near_satisfied(analysis: _Analysis, match: _Match, rule: Rule) -> bool:
    window = analysis.rules.settings["near_window"]
    for other in analysis.matches:
        a, b = sorted((other.start, match.start))
        if other is match or not analysis.same_sentence(a, b):
            continue
        if analysis.gap(match, other) > window:
            continue
        named = other.text in rule.near or any(
            r.category in rule.near_categories
            for r in other.roles
            if r.kind in ("term", "rule")
        )
        if not named or analysis.is_negated(other):
            continue
        categories = [r.category for r in other.roles if r.kind in ("term", "rule")]
        if not any(analysis.is_resolved(other, c) for c in categories):
            return True
    return False


def _unless_satisfied(analysis: _Analysis, match: _Match, rule: Rule) -> bool:
    window = analysis.rules.settings["unless_window"]
    for other in analysis.matches:
        if not any(word in other.text for word in rule.unless):
            continue
        a, b = sorted((other.start, match.start))
        if analysis.same_clause(a, b) and analysis.gap(match, other) <= window:
            return True
    return False


class _Verdict:
    """Accumulates evidence for urgency and category while matches are read."""

    def __init__(self) -> None:
        self.urgent: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.scores: dict[str, float] = {}
        self.first_seen: dict[str, int] = {}
        self.evidence: dict[str, list[str]] = {}
        self.seen: set[tuple[int, str]] = set()
        #: categories named by a term of their own (not only a generic term)
        self.named: set[str] = set()

    def score(self, category: str, weight: float, position: int, text: str) -> None:
        """Adds category evidence found at a position, once per category."""
        if (position, category) in self.seen:
            return
        self.seen.add((position, category))
        self.scores[category] = self.scores.get(category, 0.0) + weight
        self.first_seen.setdefault(category, position)
        words = self.evidence.setdefault(category, [])
        if text not in words:
            words.append(text)

    def note(self, reason: str) -> None:
        """Records a non-urgent reason once."""
        if reason not in self.notes:
            self.notes.append(reason)


def _weigh_urgent(
    analysis: _Analysis,
    verdict: _Verdict,
    match: _Match,
    category: str,
    detail: str,
) -> None:
    """Records an urgent candidate unless it is negated or resolved."""
    rules = analysis.rules
    if analysis.is_negated(match):
        verdict.note(f"negated:{category}:{detail}")
        verdict.score(category, 0.5, match.start, match.text)
        return
    if analysis.is_resolved(match, category):
        verdict.note(f"resolved:{category}:{detail}")
        verdict.score(category, 1.0, match.start, match.text)
        return
    verdict.score(category, 1.0, match.start, match.text)
    if _names_own_term(rules, match.text, category):
        verdict.named.add(category)  # 水管爆 names the supply pipe; 哗哗 does not
    hedge = analysis.hedge_before(match)
    if hedge is not None:
        verdict.note(f"hedged:{category}:{hedge.text}")
        if category in rules.hedges_downgrade:
            return
    if (category, detail) not in verdict.urgent:
        verdict.urgent.append((category, detail))


def _read_rule(
    analysis: _Analysis, verdict: _Verdict, match: _Match, role: Role, hint: str | None
) -> None:
    rule = analysis.rules.rules[role.rule]
    category = rule.category
    if rule.subject == "first":
        subject = analysis.first_subject(match)
        if subject is not None:
            if analysis.category_of(subject) in rule.subjects:
                category = analysis.category_of(subject)
        elif hint is not None and hint in rule.subjects:
            category = hint
    has_near = bool(rule.near or rule.near_categories)
    if has_near and not _near_satisfied(analysis, match, rule):
        return
    if rule.unless and _unless_satisfied(analysis, match, rule):
        verdict.score(category, 1.0, match.start, match.text)
        return
    if rule.needs_intensifier:
        window = analysis.rules.settings["intense_window"]
        if analysis.nearby(match, "intensifier", window) is None:
            verdict.score(category, 1.0, match.start, match.text)
            return
    _weigh_urgent(analysis, verdict, match, category, match.text)


def _read_symptom(analysis: _Analysis, verdict: _Verdict, match: _Match) -> None:
    subject = analysis.subject_for(match)
    if subject is None:
        return
    category = analysis.category_of(subject)
    phrase = match.text
    urgent_here = analysis.rules.urgent_symptoms.get(category, frozenset())
    is_location = subject.end <= match.start and bool(
        _LOCATIVE.match(analysis.text, subject.end)
    )
    if is_location:
        urgent_here = frozenset()
    if phrase in urgent_here or phrase.rstrip("s") in urgent_here:
        _weigh_urgent(analysis, verdict, match, category, f"{subject.text}+{phrase}")
        return
    weight = 0.5 if analysis.is_negated(match) else 1.0
    verdict.score(category, weight, match.start, subject.text)


def _names_own_term(rules: Rules, phrase: str, category: str) -> bool:
    """Returns whether an urgent phrase contains a term of its own category other
    than its generic terms (水管 in 水管爆)."""
    generic = rules.generic_terms.get(category, frozenset())
    for start in range(len(phrase)):
        for end in range(start + 1, len(phrase) + 1):
            part = phrase[start:end]
            if part not in generic and any(
                role.kind == "term" and role.category == category
                for role in rules.roles.get(part, ())
            ):
                return True
    return False


def _choose_category(rules: Rules, verdict: _Verdict, hint: str | None) -> str:
    if verdict.urgent:
        found = {category for category, _ in verdict.urgent}
        chosen = next(c for c in rules.categories if c in found)
        # Water "pouring out" of a floor drain, a manhole or into a garage is the
        # drains': a flood names no supply pipe unless the report does (the rules
        # file's unnamed_urgent_to).
        other = rules.unnamed_urgent_to.get(chosen)
        if (
            other is not None
            and chosen not in verdict.named
            and (other in found or other in verdict.scores)
        ):
            return other
        return chosen
    if not verdict.scores:
        return hint or FALLBACK_CATEGORY
    top = max(
        verdict.scores,
        key=lambda c: (verdict.scores[c], -verdict.first_seen[c]),
    )
    if hint is not None and verdict.scores.get(hint, 0.0) * 2 > verdict.scores[top]:
        return hint
    return top


def _model_reason(
    model: UrgencyModel,
    normalized: str,
    verdict: _Verdict,
    category: str,
    may_veto: bool = True,
) -> str | None:
    """Returns the model's reason when it overrules the rules: ``model:`` when it
    finds urgent a report the rules did not, ``model-veto:`` when its probability
    for a report the rules called urgent is under the model's veto threshold;
    else None. ``may_veto`` is False with rules other than the packaged ones (an
    admin's override file): the veto threshold was chosen for the packaged rules,
    and an urgent term an admin added must stand."""
    if verdict.urgent and (model.veto_below <= 0.0 or not may_veto):
        return None
    clues = rule_clues([*verdict.notes, f"category:{category}:"])
    probability, shares = model.decision(normalized, clues)
    if verdict.urgent:
        if probability >= model.veto_below:
            return None
        overruled = ", ".join(detail for _, detail in verdict.urgent)
        return f"model-veto:{category}:{overruled} p={probability:.3f}"
    if probability < model.threshold:
        return None
    pushed = model.explain_shares(shares)
    return f"model:{category}:" + ", ".join(f"{g} {share:.2f}" for g, share in pushed)


def warm_up() -> None:
    """Loads the rules and the learned model now, if not loaded yet in this process
    (each is then cached until its file changes)."""
    load_rules()
    load_model()


#: Terms too general to tell one problem from another: every water report says
#: 水, and a pipe and a ceiling both 漏水.
_GENERAL_OBJECTS = frozenset({"水", "漏水", "渗水", "滴水"})


def problem_objects(
    text: str, spot: str | None = None, rules: Rules | None = None
) -> frozenset[str]:
    """Returns the things a report names as broken: the category terms and parts
    in its words (水管, 天花板, 楼道灯, 秋千), and the term inside a rule's phrase
    (水管爆 → 水管); not the places (地下室, 单元门口), the symptoms (坏了, 漏水
    as a symptom) or words as general as 水. Two reports of one problem share one.
    The spot counts where the words name nothing.
    """
    rules = rules or load_rules()
    found = _objects_in(normalize(text or ""), rules)
    if not found and spot:  # "it's broken" at 3楼扶手: the spot names the thing
        found = _objects_in(normalize(spot), rules)
    return frozenset(found)


def _objects_in(normalized: str, rules: Rules) -> set[str]:
    found = set()
    for match in _Analysis(normalized, rules).matches:
        kinds = {role.kind for role in match.roles}
        if kinds & {"term", "part"}:
            found.add(match.text)
        elif "rule" in kinds:
            inner = _term_inside(match.text, rules)
            if inner:
                found.add(inner)
    return found - _GENERAL_OBJECTS


def _term_inside(phrase: str, rules: Rules) -> str | None:
    """Returns the longest category term or part inside a rule's phrase, if any."""
    for size in range(len(phrase) - 1, 0, -1):
        for start in range(len(phrase) - size + 1):
            piece = phrase[start : start + size]
            roles = rules.roles.get(piece, ())
            if any(role.kind in ("term", "part") for role in roles):
                return piece
    return None


def classify(
    text: str,
    category: str | None = None,
    rules: Rules | None = None,
    model: UrgencyModel | None = None,
    learned: bool = True,
    spot: str | None = None,
) -> Classification:
    """Returns the urgency, category and reasons for a resident's description;
    category is the resident's own choice, kept unless the text says otherwise;
    the learned model (default: the packaged one) adds urgency the rules did not
    find over its threshold, and overrules a rule's urgent verdict when its
    probability is under its veto threshold (reason ``model-veto:``).

    ``spot`` (the form's "exact spot", 3楼楼梯间) is read by the rules with the
    description, not by the model: it learned from descriptions, and a place word
    tipped routine reports over its threshold (a stairwell lamp became urgent)."""
    rules = rules or load_rules()
    if learned and model is None:
        model = load_model()
    hint = category if category in rules.labels else None
    described = normalize(text or "")
    normalized = normalize(f"{spot} {text or ''}") if spot else described
    analysis = _Analysis(normalized, rules)
    verdict = _Verdict()
    for match in analysis.matches:
        for role in match.roles:
            if role.kind == "term":
                weight = 1.0
                if match.start in analysis.modifiers:
                    weight = 0.5
                if analysis.is_negated(match) or analysis.is_normal(match):
                    weight = 0.5
                category = analysis.category_of(match)
                if match.text in rules.generic_terms.get(category, ()):
                    weight *= 0.5
                else:
                    verdict.named.add(category)
                verdict.score(category, weight, match.start, match.text)
            elif role.kind == "rule":
                _read_rule(analysis, verdict, match, role, hint)
            elif role.kind == "symptom":
                _read_symptom(analysis, verdict, match)
    chosen = _choose_category(rules, verdict, hint)
    reasons = [f"urgent:{cat}:{detail}" for cat, detail in verdict.urgent]
    learned_reason = None
    if learned and model is not None:
        packaged = rules.source == _PACKAGED_SOURCE
        learned_reason = _model_reason(model, described, verdict, chosen, packaged)
    vetoed = learned_reason is not None and verdict.urgent
    if vetoed:
        reasons.insert(0, learned_reason)
    elif learned_reason is not None:
        reasons.append(learned_reason)
    reasons += verdict.notes
    if hint is not None:
        reasons.append(f"hint:{hint}:{'kept' if chosen == hint else 'overridden'}")
    is_urgent = not vetoed and (bool(verdict.urgent) or learned_reason is not None)
    if not is_urgent:
        reasons += [
            f"category:{chosen}:{word}" for word in verdict.evidence.get(chosen, [])[:3]
        ]
    return Classification(
        urgency=URGENT if is_urgent else GENERAL,
        category=chosen,
        reasons=tuple(reasons),
    )
