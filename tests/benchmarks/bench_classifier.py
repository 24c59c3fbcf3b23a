"""Throughput benchmark for the urgency classifier (lines per second)."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch.triage.classifier import classify, load_rules  # noqa: E402

CASES_PATH = ROOT / "tests" / "data" / "urgency_cases.jsonl"
LINES = 20_000


def main() -> None:
    """Classifies LINES reports drawn from the labelled set and prints the rate."""
    with CASES_PATH.open(encoding="utf-8") as handle:
        cases = [json.loads(line) for line in handle if line.strip()]
    sample = random.Random(42).choices(cases, k=LINES)
    rules = load_rules()
    started = time.perf_counter()
    urgent = 0
    for case in sample:
        urgent += classify(case["text"], case.get("category"), rules).is_urgent
    elapsed = time.perf_counter() - started
    print(
        f"classified {LINES} reports in {elapsed:.2f} s: "
        f"{LINES / elapsed:,.0f} lines/s ({urgent} urgent)"
    )


if __name__ == "__main__":
    main()
