"""The quadratic paths found by `benchmarks/check_worst.py` (issue 12), rewritten to be linear, find
exactly what they found before. (Their speed is measured by the benchmark, not asserted here.)"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.models import Verdict
from gateway.pipeline.checks.lexicon import _Starts
from gateway.pipeline.checks.personal import _EMAIL
from gateway.pipeline.checks.text import view
from tests.unit.test_checks_fixtures import check, engine, rules

# The e-mail pattern before: any start inside a run of local-part characters.
_EMAIL_BEFORE = re.compile(r"[A-Za-z0-9._%+\-]+@(?P<domain>[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
EMAILISH = st.text(alphabet="ab1.-_+%@ xjp。あ", max_size=80)


@settings(max_examples=500, deadline=None)
@given(EMAILISH)
def test_emails_match_as_before(text: str) -> None:
    """The same matches, except one that starts right after a local-part character: the linear
    pattern does not start inside a run of them, so in 「a@a.a.@a.a」 the second, glued to the end
    of the first address, is not a match of its own (the first still is)."""
    now = [m.span() for m in _EMAIL.finditer(text)]
    before = [m.span() for m in _EMAIL_BEFORE.finditer(text)]
    glued = [(a, b) for a, b in before if a > 0 and re.match(r"[A-Za-z0-9._%+\-]", text[a - 1])]
    assert now == [span for span in before if span not in glued]


def test_an_address_glued_to_another_is_not_a_second_match() -> None:
    assert [m.span() for m in _EMAIL.finditer("a@a.a.@a.a")] == [(0, 5)]
    assert [m.span() for m in _EMAIL_BEFORE.finditer("a@a.a.@a.a")] == [(0, 5), (5, 10)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="あ。!?\n秘", max_size=60))
def test_sentence_of_is_the_sentence_holding_the_position(text: str) -> None:
    shown = view(text, engine()._tokenizer)
    for pos in range(-1, len(shown.norm) + 1):
        expected = next(((b, e) for b, e in shown.sentences if b <= pos < e), (0, len(shown.norm)))
        assert shown.sentence_of(pos) == expected


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), max_size=20), st.integers(0, 50),
       st.integers(0, 50))
def test_any_start_inside_a_range(spans: list[tuple[int, int]], begin: int, end: int) -> None:
    found = _Starts([(s, s + n) for s, n in spans]).any_in((begin, end))
    assert found == any(begin <= s < end for s, _ in spans)


def test_a_stamp_heading_after_blank_lines_and_indentation_is_still_found() -> None:
    for text in ("\n\n\n極秘：市長日程", "お知らせ\n　　取扱注意\n内容", "\n \t部外秘 - 資料"):
        result = check(text)
        assert result.verdict is Verdict.BLOCK and "confidential.stamp" in rules(result), text


def test_a_rule_firing_in_every_line_gives_one_finding_per_line() -> None:
    result = check("極秘：資料です。\n" * 30)
    stamps = [f for f in result.findings if f.rule == "confidential.stamp"]
    assert [f.start for f in stamps] == [9 * i for i in range(30)]
