"""The template texts we ship pass the providers' review rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.messaging.summary import summarise
from dispatch.messaging.templates import (
    FORBIDDEN_WORDS,
    MESSAGE_KINDS,
    clean_variables,
    cut,
    is_safe_variable,
    lint_template_text,
    load_templates,
)

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_FILES = sorted((ROOT / "deploy" / "sms").glob("*.toml"))
OUR_TEXTS = sorted((ROOT / "templates" / "sms").glob("*/*.txt"))


@pytest.mark.parametrize("path", PROVIDER_FILES, ids=lambda p: p.name)
def test_provider_templates_pass_the_lint(path):
    provider = path.stem
    templates = load_templates(path, provider)
    assert set(templates.templates) == set(MESSAGE_KINDS)
    problems = {
        kind: lint_template_text(template.text, provider, template.params)
        for kind, template in templates.templates.items()
    }
    assert {kind: found for kind, found in problems.items() if found} == {}


@pytest.mark.parametrize("path", PROVIDER_FILES, ids=lambda p: p.name)
def test_follow_up_asks_whether_it_is_fixed_and_links_the_tracking_page(path):
    follow_up = load_templates(path, path.stem).templates["resident_follow_up"]
    assert "是否已修好" in follow_up.text
    assert "/j" in follow_up.text


@pytest.mark.parametrize("path", OUR_TEXTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_our_own_texts_ask_for_no_review(path):
    text = path.read_text(encoding="utf-8")
    assert [word for word in FORBIDDEN_WORDS if word in text] == []


def test_the_lint_catches_what_reviewers_reject():
    assert lint_template_text("请对本次维修进行评价", "aliyun", ())
    assert lint_template_text("填写问卷调查", "tencent", ())
    assert lint_template_text(
        "查看 https://repair.example.cn/j/${code}", "aliyun", ("code",)
    )
    assert lint_template_text("联系${phone}", "aliyun", ("phone",))
    assert lint_template_text("工单{1}{2}", "tencent", ("number",))
    assert lint_template_text("工单${number}已转交。", "aliyun", ("number",)) == []


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # an outside tester's text ended in half an emoji (a box on the phone)
        ("电梯坏了👍🏽请快来", 6, "电梯坏了…"),
        ("电梯坏了👍🏽请快来", 7, "电梯坏了👍🏽…"),
        ("一家人👨‍👩‍👧困在里面", 6, "一家人…"),
        ("国旗🇨🇳不见了", 3, "国旗…"),
        ("café closed", 5, "caf…"),
    ],
)
def test_a_cut_never_splits_a_character_as_a_reader_sees_it(text, limit, expected):
    assert cut(text, limit) == expected
    assert summarise(text, limit) == expected


def test_variables_are_cut_with_an_ellipsis_and_never_carry_a_number_or_link():
    assert cut("一二三四五六七八", 6) == "一二三四五…"
    assert cut("短", 6) == "短"
    values = clean_variables(
        "officer_new_urgent",
        {
            "number": "YG-1",
            "place": "3栋",
            "problem": "水管爆了 请打13912345678 或看 http://x.cn/a",
            "ignored": "x",
        },
    )
    assert set(values) == set(MESSAGE_KINDS["officer_new_urgent"])
    assert is_safe_variable(values["problem"])
    assert "13912345678" not in values["problem"]
