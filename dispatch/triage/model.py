"""The learned urgency layer: n-gram weights from a JSON file, no scikit-learn.

A report's features, each present or absent, are taken from its normalised text
after folding (dialect, Cantonese and English words rewritten to Mandarin by the
model's own table, from ``rules/model_lexicon.toml``): the character 1–4-grams
(plain), the syllable 1–3-grams of its pinyin (``p:``, so 电题 and "dianti" meet
电梯) and the ASCII word uni- and bigrams of the unfolded text (``w:``). The score
is ``bias + sum(weight * scale) / sqrt(sum(scale ** 2))`` over the features known
to the model: the logistic regression trained by ``dispatch.triage.training`` on
binary vectors scaled by each feature's naive-Bayes log-count ratio (its
``scale``: how much more often it appears in urgent reports than in others, or
less; NBSVM, Wang & Manning 2012) and L2-normed. Format /3 had no scales (each
1). A prediction is a few hundred dict lookups and a sigmoid.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODEL_ENV = "REPAIRDESK_CLASSIFIER_MODEL"
DEFAULT_MODEL_PATH = Path(__file__).with_name("model") / "urgency.json"
FORMAT = "repairdesk-urgency-ngrams/5"
#: Older formats still read: /2 had no veto threshold (the rules always stood), /3
#: no feature scales, /4 kept weights and scales in two maps (each n-gram written
#: twice: a fifth of a 5 MB file).
READABLE_FORMATS = (
    "repairdesk-urgency-ngrams/2",
    "repairdesk-urgency-ngrams/3",
    "repairdesk-urgency-ngrams/4",
    FORMAT,
)
CHAR_NGRAMS = (1, 4)
SYLLABLE_NGRAMS = 3
_ASCII_WORD = re.compile(r"[a-z0-9']+")
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"[a-z]+|[0-9]+|[\u3400-\u9fff\U00020000-\U0002ffff]|[^\s]")


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0002ffff"


#: "2栋1单元", "3号楼", "6楼", "一楼", "502室": where, not what. Residents name their
#: building and floor in routine reports as in dangerous ones; kept as words, the
#: model learned them as signs of danger (the outside tester: "2栋1单元一楼公共
#: 水龙头一直在滴水" was urgent, the same words without the place were not).
_PLACE_NUMBER = re.compile(
    r"(?:[0-9一二三四五六七八九十百两零〇]+\s*(?:号楼|号|栋|幢|座|单元|层|楼|室|户|门洞)\s*)+"
)


class Featurizer:
    """Turns normalised text into the model's feature set."""

    def __init__(self, folding: dict[str, str], pinyin: dict[str, str]) -> None:
        self.folding = folding
        self.pinyin = pinyin
        self.syllables = frozenset(pinyin.values())
        alternatives = []
        for key in sorted(folding, key=len, reverse=True):
            escaped = re.escape(key)
            if key.isascii():
                escaped = rf"(?<![a-z']){escaped}(?![a-z'])"
            alternatives.append(escaped)
        # Each position is tried against every alternative only where a key
        # could start there: re does not see the first characters behind the
        # English keys' lookbehind, and trying 200 alternatives everywhere took
        # two fifths of the model's time.
        starts = "".join(sorted({re.escape(key[0]) for key in folding}))
        self._folder = (
            re.compile(f"(?=[{starts}])(?:{'|'.join(alternatives)})")
            if alternatives
            else None
        )

    def fold(self, normalized: str) -> str:
        """Returns the text with dialect and English words written in Mandarin,
        and every building, unit, floor or room number written as one "#"."""
        text = _SPACES.sub(" ", normalized).strip()
        if self._folder is not None:
            text = self._folder.sub(lambda m: self.folding[m.group(0)], text)
        return _PLACE_NUMBER.sub("#", text)

    @lru_cache(maxsize=4096)  # noqa: B019  (one featurizer per model file)
    def split_pinyin(self, word: str) -> tuple[str, ...] | None:
        """Returns a typed word split into pinyin syllables, or None if it is not."""
        size = len(word)
        best: list[tuple[str, ...] | None] = [None] * (size + 1)
        best[0] = ()
        for end in range(1, size + 1):
            for start in range(max(0, end - 6), end):
                head = best[start]
                if head is None or word[start:end] not in self.syllables:
                    continue
                if best[end] is None or len(head) + 1 < len(best[end] or ()):
                    best[end] = (*head, word[start:end])
        return best[size]

    def syllables_of(self, folded: str) -> list[list[str]]:
        """Returns runs of syllables (pinyin, or the word itself) between marks."""
        runs: list[list[str]] = [[]]
        for token in _TOKENS.findall(folded):
            if _is_cjk(token):
                runs[-1].append(self.pinyin.get(token, token))
            elif token.isdigit():
                runs[-1].append("#")
            elif token.isascii() and token.isalpha():
                split = self.split_pinyin(token) if len(token) > 1 else None
                runs[-1].extend(split or (token,))
            elif runs[-1]:
                runs.append([])
        return runs

    def features(self, normalized: str) -> set[str]:
        """Returns the n-gram features of text already folded by ``normalize``."""
        folded = self.fold(normalized)
        padded = f" {folded} "
        found: set[str] = set()
        low, high = CHAR_NGRAMS
        size = len(padded)
        for length in range(low, high + 1):
            found.update(
                [padded[start : start + length] for start in range(size - length + 1)]
            )
            # fold() leaves no whitespace but single spaces (and spaces a folded
            # word might bring): the grams of nothing but space are spaces
            found.discard(" " * length)
        for run in self.syllables_of(folded):
            for length in range(1, SYLLABLE_NGRAMS + 1):
                for start in range(len(run) - length + 1):
                    found.add("p:" + " ".join(run[start : start + length]))
        # The words of the unfolded text (English stays English), place numbers
        # taken out as in the folded text: "3号楼2单元" had left "w:3", "w:2".
        words = _ASCII_WORD.findall(_PLACE_NUMBER.sub(" ", normalized))
        found.update(f"w:{word}" for word in words)
        found.update(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
        return found


def rule_clues(reasons: Iterable[str]) -> set[str]:
    """Returns the ``r:`` features of the rules' reasons (kind, kind:category)."""
    clues = set()
    for reason in reasons:
        kind, _, rest = reason.partition(":")
        category = rest.partition(":")[0]
        if kind in ("negated", "resolved", "hedged", "category"):
            clues.update((f"r:{kind}", f"r:{kind}:{category}"))
    return clues


@dataclass(frozen=True)
class UrgencyModel:
    """A linear urgency model: n-gram weights, bias and the two decision
    thresholds: a report the rules did not call urgent is urgent at a probability
    of ``threshold`` or more; a rule's urgent verdict is overruled (vetoed) at a
    probability under ``veto_below`` (0: never)."""

    weights: dict[str, float]
    bias: float
    threshold: float
    veto_below: float = 0.0
    folding: dict[str, str] = field(default_factory=dict)
    pinyin: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Each feature's value when present (its naive-Bayes ratio; absent: 1).
    scales: dict[str, float] = field(default_factory=dict)
    featurizer: Featurizer = field(init=False, repr=False, compare=False)
    #: gram -> (weight * scale, scale ** 2), computed once when loaded.
    _terms: dict[str, tuple[float, float]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "featurizer", Featurizer(self.folding, self.pinyin))
        terms = {}
        for gram, weight in self.weights.items():
            scale = self.scales.get(gram, 1.0)
            terms[gram] = (weight * scale, scale * scale)
        object.__setattr__(self, "_terms", terms)

    def contributions(
        self, normalized: str, clues: Iterable[str] = ()
    ) -> tuple[float, dict[str, float]]:
        """Returns the logit and each known feature's share of it."""
        found = self.featurizer.features(normalized)
        found.update(clues)
        terms = self._terms
        known = [(gram, terms[gram]) for gram in found if gram in terms]
        if not known:
            return self.bias, {}
        norm = 1.0 / math.sqrt(sum(square for _, (_, square) in known))
        shares = {gram: value * norm for gram, (value, _) in known}
        return self.bias + sum(shares.values()), shares

    def probability(self, normalized: str, clues: Iterable[str] = ()) -> float:
        """Returns the probability that a normalised report is urgent."""
        logit, _ = self.contributions(normalized, clues)
        return _sigmoid(logit)

    def explain(
        self, normalized: str, clues: Iterable[str] = (), limit: int = 3
    ) -> list[tuple[str, float]]:
        """Returns the character and word n-grams (two characters or more) that
        pushed hardest towards urgent, a longer one kept over those inside it."""
        _, shares = self.contributions(normalized, clues)
        return self.explain_shares(shares, limit)

    def decision(
        self, normalized: str, clues: Iterable[str] = ()
    ) -> tuple[float, dict[str, float]]:
        """Returns the probability and the features' logit shares (one pass, for
        a probability and its explanation)."""
        logit, shares = self.contributions(normalized, clues)
        return _sigmoid(logit), shares

    @staticmethod
    def explain_shares(
        shares: dict[str, float], limit: int = 3
    ) -> list[tuple[str, float]]:
        """Returns ``explain``'s n-grams from shares already computed."""
        shares = {g: v for g, v in shares.items() if not g.startswith(("r:", "p:"))}
        chosen: list[tuple[str, float]] = []
        ranked = sorted(shares.items(), key=lambda item: (-item[1], -len(item[0])))
        for gram, share in ranked:
            if share <= 0 or len(chosen) >= limit:
                break
            shown = gram.removeprefix("w:").strip()
            if len(shown) < 2 or "#" in shown:
                continue
            if any(shown in kept or kept in shown for kept, _ in chosen):
                continue
            chosen.append((shown, share))
        return chosen

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-ready form written to the model file."""
        return {
            "format": FORMAT,
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
            "veto_below": round(self.veto_below, 6),
            "meta": self.meta,
            "folding": self.folding,
            "pinyin": _group_by_value(self.pinyin),
            # n-gram -> [weight, scale] (a feature without a scale counts 1)
            "terms": {
                gram: [round(weight, 4), round(self.scales.get(gram, 1.0), 4)]
                for gram, weight in sorted(self.weights.items())
                if round(weight, 4) != 0.0
            },
        }


def _group_by_value(pinyin: dict[str, str]) -> dict[str, str]:
    """Returns {syllable: characters} (a compact form of {character: syllable})."""
    grouped: dict[str, list[str]] = {}
    for char, syllable in sorted(pinyin.items()):
        grouped.setdefault(syllable, []).append(char)
    return {syllable: "".join(chars) for syllable, chars in sorted(grouped.items())}


def _sigmoid(logit: float) -> float:
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


def model_from_dict(data: dict[str, Any]) -> UrgencyModel:
    """Returns the model described by a parsed model file (raises ValueError)."""
    if data.get("format") not in READABLE_FORMATS:
        raise ValueError(f"model format {data.get('format')!r} is not {FORMAT!r}")
    if "terms" in data:
        weights = {str(k): float(v[0]) for k, v in data["terms"].items()}
        scales = {str(k): float(v[1]) for k, v in data["terms"].items()}
    else:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        scales = {str(k): float(v) for k, v in data.get("scales", {}).items()}
    return UrgencyModel(
        weights=weights,
        bias=float(data["bias"]),
        threshold=float(data["threshold"]),
        veto_below=float(data.get("veto_below", 0.0)),
        folding=dict(data.get("folding", {})),
        pinyin={
            char: syllable
            for syllable, chars in data.get("pinyin", {}).items()
            for char in chars
        },
        meta=dict(data.get("meta", {})),
        scales=scales,
    )


def save_model(model: UrgencyModel, path: str | os.PathLike[str]) -> Path:
    """Writes the model as compact JSON and returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model.to_dict(), ensure_ascii=False, separators=(",", ":"))
    target.write_text(text + "\n", encoding="utf-8")
    return target


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> UrgencyModel:
    with open(path, encoding="utf-8") as handle:
        return model_from_dict(json.load(handle))


def model_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Returns the model file chosen by path, $REPAIRDESK_CLASSIFIER_MODEL or the
    packaged default."""
    return Path(path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_PATH).resolve()


def load_model(path: str | os.PathLike[str] | None = None) -> UrgencyModel | None:
    """Returns the model, cached until its file changes, or None without a file
    or with one that cannot be read (the rules then classify alone: a resident's
    report must not fail because a model file was cut short or mistyped)."""
    resolved = model_path(path)
    try:
        mtime_ns = os.stat(resolved).st_mtime_ns
    except FileNotFoundError:
        return None
    try:
        return _load_cached(str(resolved), mtime_ns)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as problem:
        log.error(
            "urgency model %s unreadable, the rules classify alone: %s",
            resolved,
            problem,
        )
        return None
