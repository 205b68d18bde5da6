"""X's weighted length against twitter-text's own conformance suite (validate.yml, copied from
twitter/twitter-text conformance/ into tests/fixtures/twitter-text/).

Relevant sections are the ones for the v3 configuration X uses today (280, CJK 2, URLs 23,
emoji sequences 2): `WeightedTweetsWithDiscountedEmojiCounterTest` and
`UnicodeDirectionalMarkerCounterTest`. Not run: `tweets` (the 140-character v1 rule) and
`WeightedTweetsCounterTest` (v2, emoji counted per code point), which X no longer applies, and
the username/hashtag/URL validity sections, which are about entities, not length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.adapters.render import X_MAX_WEIGHTED, fits_x, x_clean, x_length

SUITE = Path(__file__).parent.parent / "fixtures" / "twitter-text" / "validate.yml"
SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def _cases() -> list[Any]:
    tests = yaml.safe_load(SUITE.read_text(encoding="utf-8"))["tests"]
    return [pytest.param(case["text"], case["expected"], id=f"{section}: {case['description']}")
            for section in SECTIONS for case in tests[section]]


CASES = _cases()


def test_the_suite_is_all_there() -> None:
    assert len(CASES) == 24


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_matches_twitter_text(text: str, expected: dict[str, Any]) -> None:
    got = x_length(text)
    assert {
        "weightedLength": got.weighted_length, "valid": got.valid, "permillage": got.permillage,
        "displayRangeStart": 0, "displayRangeEnd": got.display_range_end,
        "validRangeStart": 0, "validRangeEnd": got.valid_range_end,
    } == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_fits_x_agrees_with_the_suite(text: str, expected: dict[str, Any]) -> None:
    """fits_x answers for the text as render_x sends it: invalid characters removed."""
    assert fits_x(text) == (x_length(x_clean(text)).weighted_length <= X_MAX_WEIGHTED)
    if x_length(text).valid:
        assert fits_x(text)


@pytest.mark.parametrize(("text", "weighted"), [
    ("a\r\nb", 4),  # CR LF is two characters (twitter-text-parser 3.0 folds it into one LF: 3)
    ("a\nb", 3),
    ("a\rb", 3),
    ("お知らせ\r\n詳細", 14),
])
def test_line_breaks_count_per_character(text: str, weighted: int) -> None:
    assert x_length(text).weighted_length == weighted


def test_crlf_decides_the_limit() -> None:
    text = "あ" * 139 + "\r\n"  # 278 + 2 = 280: just fits; one more CR LF does not
    assert x_length(text).valid and fits_x(text)
    assert not x_length(text + "\r\n").valid and not fits_x(text + "\r\n")


@pytest.mark.parametrize("bad", ["\ufffe", "\ufeff", "\uffff"])
def test_invalid_characters_make_a_post_invalid(bad: str) -> None:
    assert not x_length(f"お知らせ{bad}です").valid
    assert x_length("お知らせです").valid
    assert x_clean(f"{bad}お知らせ{bad}です") == "お知らせです"


def test_empty_text_is_not_a_valid_post() -> None:
    assert not x_length("").valid


def test_emoji_runs_find_what_the_full_pattern_finds() -> None:
    """x_emojis scans only the runs of code points that may belong to an emoji (the full pattern is
    slow); on random mixes of Japanese, ASCII, keycaps, flags, ZWJ sequences and symbols it finds
    exactly what twitter-text's extractor finds over the whole text."""
    import random

    from twitter_text.extract_emojis import extract_emojis_with_indices

    from gateway.adapters.render import x_emojis

    pieces = [*"あいう漢字カナ、。「」1#*0 a\n…※〰〽㊗©®™↔⌚☀✅❤",
              "\ufe0f", "\u20e3", "\u200d", "👨", "👩", "🏽", "🇯", "🇵", "😀", "🏳", "\U000e0067", "1\ufe0f\u20e3"]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        whole = {e["indices"][0]: e["indices"][1] for e in extract_emojis_with_indices(text)}
        assert x_emojis(text) == whole, text
