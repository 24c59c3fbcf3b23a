"""The ``classify`` console command: JSON lines in, JSON lines out."""

from __future__ import annotations

import json
from typing import Any, TextIO

import click
from flask import Flask

from dispatch.triage.classifier import Rules, classify, load_rules


def classify_line(line: str, rules: Rules) -> dict[str, Any] | None:
    """Returns the verdict for one JSON line, an error dict, or None if blank."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return {"error": f"invalid JSON: {error.msg}"}
    if not isinstance(record, dict):
        return {"error": "expected a JSON object"}
    text = record.get("text")
    category = record.get("category")
    if not isinstance(text, str):
        return {"error": "'text' must be a string"}
    if category is not None and not isinstance(category, str):
        return {"error": "'category' must be a string or null"}
    return classify(text, category or None, rules).to_dict()


@click.command("classify")
@click.argument(
    "source", type=click.File("r", encoding="utf-8"), default="-", required=False
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Rules TOML file (default: $REPAIRDESK_CLASSIFIER_RULES or the packaged one).",
)
def classify_command(source: TextIO, rules_path: str | None) -> None:
    """Classify JSON lines ({"text": …, "category": …}) from SOURCE (default stdin)."""
    rules = load_rules(rules_path)
    for number, line in enumerate(source, start=1):
        result = classify_line(line, rules)
        if result is None:
            continue
        if "error" in result:
            result["line"] = number
        click.echo(json.dumps(result, ensure_ascii=False))


def init_app(app: Flask) -> None:
    """Adds the ``classify`` command to the app's CLI group."""
    app.cli.add_command(classify_command)


if __name__ == "__main__":
    classify_command()
