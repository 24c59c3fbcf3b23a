"""The ``classify`` console command (JSON lines in, JSON lines out) and the
``classifier train``/``classifier evaluate`` commands of the learned layer."""

from __future__ import annotations

import json
from pathlib import Path
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


@click.group("classifier")
def classifier_group() -> None:
    """Train and evaluate the learned urgency model."""


def _parse_candidates(value: str | None) -> list[tuple[str, float, str | None]]:
    """Returns candidates from "nblr:30,logreg:30,svm:1" (None: the default)."""
    from dispatch.triage.training import CANDIDATES

    if not value:
        return list(CANDIDATES)
    chosen = []
    for item in value.split(","):
        kind, _, c = item.strip().partition(":")
        if kind not in ("nblr", "logreg", "svm") or not c:
            raise click.BadParameter(f"{item!r} is not nblr:C, logreg:C or svm:C")
        chosen.append((kind, float(c), None))
    return chosen


@classifier_group.command("train")
@click.option(
    "--corpus",
    "corpus_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of training parts (*.jsonl); default: dispatch/triage/corpus/train.",
)
@click.option(
    "--seed-cases/--no-seed-cases",
    default=True,
    help="Also train on tests/data/urgency_cases.jsonl.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Model file to write; default: the packaged dispatch/triage/model file.",
)
@click.option("--candidates", default=None, help='e.g. "nblr:30,logreg:30,svm:1".')
@click.option("--recall-target", type=float, default=None)
def train_command(
    corpus_dir: Path | None,
    seed_cases: bool,
    out: Path | None,
    candidates: str | None,
    recall_target: float | None,
) -> None:
    """Fit the model on the training parts, choose it and its threshold by
    leave-one-part-out cross-validation, and write the model file."""
    from dispatch.triage import training
    from dispatch.triage.model import DEFAULT_MODEL_PATH, save_model

    paths = training.training_paths(corpus_dir or training.TRAIN_DIR, seed_cases)
    found = training.read_parts(paths)
    heldout = training.read_parts(training.heldout_paths())
    reports = training.without_heldout(found, heldout)
    click.echo(
        f"training on {len(reports)} reports from {len(paths)} parts "
        f"({len(found) - len(reports)} left out: the same text is held out)"
    )
    model = training.train(
        reports,
        candidates=_parse_candidates(candidates),
        recall_target=recall_target or training.RECALL_TARGET,
        log=click.echo,
    )
    target = save_model(model, out or DEFAULT_MODEL_PATH)
    click.echo(training.format_figures("cross-validation", model.meta["cv"]))
    click.echo(
        f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB, "
        f"threshold {model.threshold:.4f}, veto below {model.veto_below:.4f})"
    )


@classifier_group.command("evaluate")
@click.option(
    "--model",
    "model_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Model file; default: $REPAIRDESK_CLASSIFIER_MODEL or the packaged one.",
)
@click.option(
    "--heldout",
    "heldout_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of held-out parts; default: tests/data/triage_heldout.",
)
@click.option("--misses", default=10, show_default=True)
def evaluate_command(
    model_file: Path | None, heldout_dir: Path | None, misses: int
) -> None:
    """Print the cross-validated figures stored with the model and the figures,
    confusion matrix and hardest misses of rules + model on the held-out parts."""
    from dispatch.triage import training
    from dispatch.triage.model import model_path

    model = training.read_model_file(model_path(model_file))
    meta = model.meta
    click.echo(
        f"model: {meta.get('reports')} reports, {meta.get('settings')}, "
        f"threshold {model.threshold:.4f}, veto below {model.veto_below:.4f}"
    )
    if "cv_rules_only" in meta:
        title = "cross-validation, rules alone"
        click.echo(training.format_figures(title, meta["cv_rules_only"]))
    if "cv" in meta:
        title = "cross-validation (leave one part out), rules + model"
        click.echo(training.format_figures(title, meta["cv"]))
    paths = training.heldout_paths(heldout_dir or training.HELDOUT_DIR)
    found, hardest = training.evaluate_heldout(model, paths, limit=misses)
    click.echo(training.format_figures("held-out, rules + model", found))
    click.echo("hardest misses (gold, model probability, part, category, text):")
    for report, probability in hardest:
        gold = "urgent" if report.urgent else "general"
        click.echo(
            f"  {gold:<8}{probability:.3f}  {report.part} {report.category:<11}"
            f"{report.text[:100]}"
        )


def init_app(app: Flask) -> None:
    """Adds the ``classify`` and ``classifier`` commands to the app's CLI group."""
    app.cli.add_command(classify_command)
    app.cli.add_command(classifier_group)


if __name__ == "__main__":
    classify_command()
