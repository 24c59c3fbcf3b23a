"""Tests for the learned urgency layer: its file, its figures and its commands."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.triage import training
from dispatch.triage.classifier import (
    DEFAULT_RULES_PATH,
    URGENT,
    classify,
    compile_rules,
    normalize,
)
from dispatch.triage.cli import classifier_group, classify_command
from dispatch.triage.model import (
    DEFAULT_MODEL_PATH,
    UrgencyModel,
    load_model,
    model_from_dict,
)

MAX_MODEL_BYTES = 5 * 1024 * 1024
#: Issue 13's targets on the held-out parts (rules + model).
ISSUE_RECALL = 0.98
ISSUE_ACCURACY = 0.92


@pytest.fixture(scope="module")
def model():
    """Returns the packaged model."""
    found = load_model(DEFAULT_MODEL_PATH)
    assert found is not None, f"no model file at {DEFAULT_MODEL_PATH}"
    return found


def test_model_file_is_versioned_small_and_loads_without_pickle(model) -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size <= MAX_MODEL_BYTES
    data = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    assert model_from_dict(data).threshold == model.threshold
    assert 0.0 < model.threshold < 1.0
    assert load_model(DEFAULT_MODEL_PATH) is model


def test_model_never_trained_on_the_heldout_parts(model) -> None:
    heldout = {path.stem for path in training.heldout_paths()}
    assert heldout, "the held-out parts are missing"
    assert not heldout & set(model.meta["trained_on"])
    assert model.meta["reports"] == len(
        training.without_heldout(
            training.read_parts(training.training_paths()),
            training.read_parts(training.heldout_paths()),
        )
    )


def _heldout_report(model) -> tuple[dict, str]:
    found, hardest = training.evaluate_heldout(model)
    table = training.format_figures("held-out, rules + model", found)
    misses = "\n".join(f"{p:.3f} {r.text[:80]}" for r, p in hardest)
    return found["all"], f"{table}\n{misses}"


def test_heldout_parts_meet_the_issues_recall_and_accuracy(model) -> None:
    overall, report = _heldout_report(model)
    assert overall["n"] >= 700, report
    assert overall["recall"] >= ISSUE_RECALL, report
    assert overall["accuracy"] >= ISSUE_ACCURACY, report


def test_model_vetoes_a_rules_urgent_verdict_under_its_low_threshold() -> None:
    text = "电梯困人了"
    rules_only = classify(text, learned=False)
    assert rules_only.urgency == URGENT
    unsure = UrgencyModel(weights={"电梯": -6.0}, bias=-1.0, threshold=0.9)
    assert classify(text, model=unsure).urgency == URGENT  # no veto threshold
    vetoing = UrgencyModel(
        weights={"电梯": -6.0}, bias=-1.0, threshold=0.9, veto_below=0.05
    )
    result = classify(text, model=vetoing)
    assert result.urgency == "general"
    assert result.reasons[0].startswith("model-veto:lift:")
    assert any(reason.startswith("urgent:lift:") for reason in result.reasons)
    lenient = UrgencyModel(
        weights={"电梯": -6.0}, bias=-1.0, threshold=0.9, veto_below=0.0005
    )
    assert classify(text, model=lenient).urgency == URGENT
    # an admin's own rules file: the veto threshold was not chosen for it
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    override = compile_rules(data, source="/etc/repairdesk/urgency.toml")
    assert classify(text, rules=override, model=vetoing).urgency == URGENT


def test_board_says_when_the_model_overruled_a_rule(app) -> None:
    from dispatch.board.views import reasons_text

    reasons = ["model-veto:lift:困人 p=0.021", "urgent:lift:困人"]
    with app.test_request_context("/?lang=zh_CN"):
        assert reasons_text(reasons).startswith("模型判断：不紧急: 困人 p=0.021")
    with app.test_request_context("/?lang=en"):
        assert reasons_text(reasons).startswith("learned: not urgent: 困人")


def _in_format_4() -> dict:
    """Returns the packaged model file as /4 wrote it: weights and scales in two
    maps, each n-gram written twice (/5 keeps [weight, scale] under one key)."""
    data = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    terms = data.pop("terms")
    data["format"] = "repairdesk-urgency-ngrams/4"
    data["weights"] = {gram: weight for gram, (weight, _) in terms.items()}
    data["scales"] = {gram: scale for gram, (_, scale) in terms.items()}
    return data


def test_a_model_file_of_format_4_reads_as_the_packaged_one(model) -> None:
    older = model_from_dict(_in_format_4())
    assert older.weights == model.weights
    assert older.scales == model.scales
    text = normalize("电梯停在三楼不动了，里面好像有人")
    assert older.probability(text) == model.probability(text)


def test_a_model_file_of_the_previous_format_loads_without_a_veto(model) -> None:
    data = _in_format_4()
    data["format"] = "repairdesk-urgency-ngrams/2"
    data.pop("veto_below", None)
    assert model_from_dict(data).veto_below == 0.0
    with pytest.raises(ValueError):
        model_from_dict({**data, "format": "repairdesk-urgency-ngrams/9"})


def test_a_feature_counts_by_its_scale_and_a_file_without_scales_reads_as_before(
    model,
) -> None:
    # /4: bias + sum(weight * scale) / sqrt(sum(scale ** 2)) over known features
    scaled = UrgencyModel(
        weights={"燃气": 2.0, "味": 1.0},
        bias=-1.0,
        threshold=0.5,
        scales={"燃气": 3.0, "味": 1.0},
    )
    logit, shares = scaled.contributions("燃气味", ())
    assert shares["燃气"] == pytest.approx(6.0 / 10**0.5)
    assert logit == pytest.approx(-1.0 + 7.0 / 10**0.5)
    # /3 had no scales: each feature 1, the norm the count of known features
    data = _in_format_4()
    data["format"] = "repairdesk-urgency-ngrams/3"
    data.pop("scales")
    plain = model_from_dict(data)
    logit, shares = plain.contributions("燃气味", ())
    assert logit == pytest.approx(
        plain.bias + sum(plain.weights[g] for g in shares) / len(shares) ** 0.5
    )
    assert len(model.scales) == len(model.weights)


def test_traditional_characters_read_as_simplified() -> None:
    # Hong Kong, Macau and Taiwan residents write 電梯, 煤氣, 升降機: the rules and
    # the model saw other characters than in the same report in simplified.
    from dispatch.triage.classifier import classify

    assert normalize("升降機困咗人，煤氣味") == "升降机困咗人,煤气味"
    for text in ("電梯壞咗，有人喺入面出唔到嚟", "瓦斯管破了，整個樓梯間都是味道"):
        assert classify(text).urgency == URGENT, text
    assert classify("樓道燈唔著，麻煩有時間嚟換").urgency == "general"
    # 升降機 is Hong Kong's word for a lift: the category had been "other" (the
    # wrong contractor) for "the lift stopped between floors, my father inside"
    found = classify("升降機停咗喺三樓同四樓中間，我阿爸喺入面出唔到嚟")
    assert (found.urgency, found.category) == (URGENT, "lift")


def test_pinyin_and_cantonese_share_features_with_mandarin(model) -> None:
    featurize = model.featurizer.features
    assert "p:dian ti" in featurize(normalize("dianti huai le"))
    assert "p:dian ti" in featurize(normalize("电题坏了"))
    assert "电梯" in featurize(normalize("𨋢坏咗"))
    assert "电梯" in featurize(normalize("the lift is stuck"))


def test_bulging_wall_is_urgent_by_the_model_which_says_why() -> None:
    model = UrgencyModel(weights={"鼓包": 4.0, "墙": 0.5}, bias=-1.0, threshold=0.5)
    text = "后坡那堵墙鼓包了"
    assert classify(text, learned=False).urgency == "general"
    result = classify(text, model=model)
    assert (result.urgency, result.category) == (URGENT, "structure")
    assert "model:structure:鼓包 2.83" in result.reasons
    assert classify("后坡那堵墙刷了漆", model=model).urgency == "general"


def test_packaged_model_catches_reports_the_rules_miss(model) -> None:
    texts = ["后面挡土墙往外鼓了一块", "楼顶的铁皮被风吹得翘起来了，下面就是大门口"]
    for text in texts:
        assert classify(text, learned=False).urgency == "general"
        result = classify(text)
        assert result.urgency == URGENT, result
        assert any(reason.startswith("model:structure:") for reason in result.reasons)


def test_model_reason_names_the_ngrams_that_pushed_it(model) -> None:
    shown = model.explain(normalize("楼道里有股臭鸡蛋味"))
    assert shown and all(share > 0 for _, share in shown)
    texts = [gram for gram, _ in shown]
    assert not any(a != b and a in b for a in texts for b in texts)


def test_classify_command_keeps_its_json_lines_interface() -> None:
    lines = "\n".join(
        [
            json.dumps({"text": "电梯困人了", "category": "lift"}, ensure_ascii=False),
            "",
            json.dumps({"text": "草坪该修剪了"}, ensure_ascii=False),
            "not json",
        ]
    )
    result = CliRunner().invoke(classify_command, ["-"], input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [set(row) for row in rows[:2]] == [{"urgency", "category", "reasons"}] * 2
    assert rows[0]["urgency"] == URGENT
    assert rows[1]["urgency"] == "general"
    assert rows[2]["line"] == 4 and "error" in rows[2]


def _write_part(path: Path, lines: list[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for text, urgency, category in lines:
            record = {"text": text, "urgency": urgency, "category": category}
            record |= {"lang": training.guess_lang(text), "brief": path.stem}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def test_train_on_a_small_corpus_writes_a_model_that_loads(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    urgent = [
        "电梯困人了",
        "燃气泄漏了",
        "水管爆了",
        "电线冒火花",
        "lift stuck",
        "gas leak",
    ]
    general = [
        "路灯不亮",
        "草坪该修了",
        "门禁坏了",
        "楼道有垃圾",
        "lamp out",
        "noisy dogs",
    ]
    for part, suffix in (("a", "，快来"), ("b", "!")):
        rows = [(t + suffix, "urgent", "other") for t in urgent]
        rows += [(t + suffix, "general", "other") for t in general]
        _write_part(corpus / f"{part}.jsonl", rows)
    out = tmp_path / "model.json"
    arguments = ["train", "--corpus", str(corpus), "--no-seed-cases"]
    arguments += ["--out", str(out), "--candidates", "logreg:10"]
    result = CliRunner().invoke(classifier_group, arguments)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model is not None and model.meta["trained_on"] == ["a", "b"]
    assert model.probability(normalize("电梯困人了，快来")) > model.probability(
        normalize("路灯不亮，快来")
    )
    evaluated = CliRunner().invoke(
        classifier_group, ["evaluate", "--model", str(out), "--heldout", str(corpus)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "confusion" in evaluated.output


def test_reports_written_after_the_model_keep_urgent_recall() -> None:
    """Writers who saw no code or model write a new part once a model is done; it
    is measured once, then kept here so a later model cannot quietly do worse on
    it. u5 (east-China estates; grid workers' officialese, guards' logs, children
    and landlords typing for others) was measured once on the model of t1–t6 and
    u1–u4: recall 0.971, accuracy 0.841 on all 320. u8 (old coastal towns; angry
    complaints, WeChat forwards, OCR'd screenshots, a ship engineer's
    measurements) was written with u6 and u7 and kept unseen: 0.993, 0.872 on all
    320 with the model trained on u6 and u7 (the model before: 1.000, 0.838),
    0.993, 0.878 with the one trained on u6, u7 and u9–u15 too (docs/TRIAGE.md).
    u21 (night shifts and holidays: fragments, typos, a drink too many) was
    written with u16–u20 and kept unseen: 0.979, 0.863 on the model before them,
    0.979, 0.875 on the one trained on them. u22 (old work-unit compounds; half
    the reports typed in under 20 characters, pinyin slips) was written after the
    sixth-pass model and measured once on it: 0.985, 0.890 on the 317 of its texts
    found in no other part. Checked here on the 1259 texts of the four that stand
    in no training or held-out part: 0.985, 0.886."""
    from pathlib import Path

    from dispatch.triage.classifier import classify, normalize

    known = {
        normalize(r.text)
        for r in training.read_parts(
            [*training.training_paths(), *training.heldout_paths()]
        )
    }
    unseen = Path(__file__).parent / "data" / "triage_unseen"
    reports = [
        report
        for report in training.read_parts(sorted(unseen.glob("*.jsonl")))
        if normalize(report.text) not in known
    ]
    assert len(reports) >= 1250
    verdicts = [(r.urgent, classify(r.text, None).is_urgent) for r in reports]
    urgent = [said for gold, said in verdicts if gold]
    recall = sum(urgent) / len(urgent)
    accuracy = sum(gold == said for gold, said in verdicts) / len(verdicts)
    assert recall >= 0.985, recall
    assert accuracy >= 0.87, accuracy


ROUTINE = [
    "一楼公共水龙头一直在滴水",
    "楼道灯不亮",
    "门禁刷卡没反应",
    "楼梯扶手有点松",
    "垃圾桶满了没人清",
    "单元门关不上",
    "墙皮掉了一块",
    "信报箱坏了",
    "绿化带杂草太多",
    "对讲机没声音",
]
PLACES = ["2栋1单元", "3号楼2单元一楼", "6楼", "12幢502室门口"]


@pytest.mark.parametrize("text", ROUTINE)
def test_naming_the_building_or_floor_does_not_make_a_report_urgent(text) -> None:
    """Found by the outside tester: "2栋1单元一楼公共水龙头一直在滴水" was urgent,
    the same words without the place were not. Building, unit, floor and room
    numbers are where, not what: the model reads each as one "#"."""
    from dispatch.triage.classifier import classify

    assert classify(text).urgency == "general"
    for place in PLACES:
        assert classify(place + text).urgency == "general", place + text


def test_the_model_reads_place_numbers_as_one_mark() -> None:
    from dispatch.triage.model import load_model

    fold = load_model().featurizer.fold
    assert fold("3号楼 2单元 一楼的灯不亮") == "#的灯不亮"
    assert fold("楼梯塌了") == "楼梯塌了"
    # nor as English words: "w:3" and "w:2" had tipped a dripping tap over
    features = load_model().featurizer.features(normalize("3号楼2单元一楼水龙头在滴水"))
    assert not any(gram.startswith("w:") for gram in features)
    assert "w:20cm" in load_model().featurizer.features(normalize("积水20cm"))


def test_the_spot_is_read_by_the_rules_not_by_the_model() -> None:
    """The form's "exact spot" names a place: a stairwell tipped a routine lamp
    report over the model's threshold; the rules still read it with the words."""
    from dispatch.triage.classifier import classify

    assert classify("=1+1 楼道灯不亮", spot="3楼楼梯间").urgency == "general"
    assert classify("门打不开，里面有人", spot="电梯").urgency == "urgent"


@pytest.mark.parametrize(
    "content",
    [
        '{"format": "repairdesk-urgency-ngrams/5", "bias":',  # cut short
        '{"format": "repairdesk-urgency-ngrams/9"}',  # a format nobody reads
        '{"format": "repairdesk-urgency-ngrams/5", "terms": {"a": []}}',  # mistyped
    ],
    ids=["cut-short", "unknown-format", "mistyped"],
)
def test_an_unreadable_model_file_leaves_the_rules_to_classify(
    app, resident, tmp_path, monkeypatch, caplog, content
) -> None:
    # Before: the model's error went up through the report's transaction, the
    # resident got a 500 and the report was lost.
    broken = tmp_path / "urgency.json"
    broken.write_text(content, encoding="utf-8")
    monkeypatch.setenv("REPAIRDESK_CLASSIFIER_MODEL", str(broken))
    assert load_model() is None
    assert "unreadable" in caplog.text
    result = classify("电梯困人了，里面有老人")
    assert result.is_urgent and result.category == "lift"
    assert not any(reason.startswith("model") for reason in result.reasons)
    resident.open_form()
    assert resident.submit(reuse_form=True).status_code == 303


def _pieces_of(model) -> list[str]:
    """The folding table's keys, their neighbours and the separators the
    featurizer meets, for texts built to find where the fast paths differ."""
    keys = sorted(model.folding)[::7]
    return [*keys, "a", "'", "x", "电", "梯", "3", "号楼", " ", "  ", "，", "\u3000"]


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_folding_and_ngrams_match_their_plain_definitions(model, data) -> None:
    """fold() looks for the folding table's words only where one could start, and
    features() takes each length's grams at once: both must equal the plain
    definitions (every alternative at every position; every gram but those of
    nothing but space)."""
    import re

    from dispatch.triage.model import _PLACE_NUMBER, CHAR_NGRAMS

    featurizer = model.featurizer
    pieces = _pieces_of(model)
    text = normalize("".join(data.draw(st.lists(st.sampled_from(pieces), max_size=12))))
    alternatives = []
    for key in sorted(model.folding, key=len, reverse=True):
        escaped = re.escape(key)
        if key.isascii():
            escaped = rf"(?<![a-z']){escaped}(?![a-z'])"
        alternatives.append(escaped)
    plain = re.compile("|".join(alternatives))
    folded = featurizer.fold(text)
    spaced = re.sub(r"\s+", " ", text).strip()
    expected = plain.sub(lambda m: model.folding[m.group(0)], spaced)
    assert folded == _PLACE_NUMBER.sub("#", expected)
    padded = f" {folded} "
    grams = {
        padded[start : start + length]
        for length in range(CHAR_NGRAMS[0], CHAR_NGRAMS[1] + 1)
        for start in range(len(padded) - length + 1)
    }
    found = featurizer.features(text)
    # no piece holds "p:" or "w:", so no character gram starts like the others
    assert {g for g in found if not g.startswith(("p:", "w:"))} == {
        g for g in grams if not g.isspace()
    }


def test_board_names_the_words_the_model_weighed_without_their_weights(app) -> None:
    # Outside tester: "模型判断: 栏杆 0.44, 卡在 0.44, 困住 0.30" on a card.
    from dispatch.board.views import reasons_text

    reasons = ["model:lift:栏杆 0.44, 卡在 0.44, 困住 0.30"]
    with app.test_request_context("/?lang=zh_CN"):
        assert reasons_text(reasons) == "模型判断: 栏杆、卡在、困住"
    with app.test_request_context("/?lang=en"):
        assert reasons_text(reasons) == "learned: 栏杆, 卡在, 困住"
