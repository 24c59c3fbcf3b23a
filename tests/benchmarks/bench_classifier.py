"""Speed of the urgency classifier, rules + learned model (target ≤ 1 ms a report)."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch.triage.classifier import classify, load_rules  # noqa: E402
from dispatch.triage.model import DEFAULT_MODEL_PATH, load_model  # noqa: E402

CORPUS = [
    ROOT / "tests" / "data" / "urgency_cases.jsonl",
    *sorted((ROOT / "dispatch" / "triage" / "corpus" / "train").glob("*.jsonl")),
]
LINES = 20_000
TARGET_MS = 1.0
TARGET_MB = 5.0


def main() -> None:
    """Classifies LINES corpus reports with and without the model; prints the
    time per report and the model file's size against their targets."""
    cases = []
    for path in CORPUS:
        with path.open(encoding="utf-8") as handle:
            cases += [json.loads(line) for line in handle if line.strip()]
    sample = random.Random(42).choices(cases, k=LINES)
    rules = load_rules()
    started = time.perf_counter()
    model = load_model()
    load_ms = (time.perf_counter() - started) * 1000
    for learned in (False, True):
        started = time.perf_counter()
        urgent = 0
        for case in sample:
            result = classify(case["text"], case.get("category"), rules, model, learned)
            urgent += result.is_urgent
        elapsed = time.perf_counter() - started
        per_report = elapsed / LINES * 1000
        label = "rules + model" if learned else "rules only"
        print(
            f"{label:<14} {LINES} reports in {elapsed:.2f} s: {per_report:.3f} ms "
            f"a report ({per_report / TARGET_MS:.2f}× the {TARGET_MS} ms target; "
            f"{urgent} urgent)"
        )
    size_mb = DEFAULT_MODEL_PATH.stat().st_size / 1e6
    print(
        f"model file {size_mb:.2f} MB ({size_mb / TARGET_MB:.2f}× the {TARGET_MB} MB "
        f"limit), loaded once in {load_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
