"""Platform-neutral text fitting: compose, measure, truncate, split."""

from __future__ import annotations

import pytest
from twitter_text import parse_tweet

from gateway.adapters.render import (
    compose_text,
    longest_prefix,
    safe_cut,
    split_to,
    truncate_to,
    utf8_len,
    utf16_len,
)
from gateway.models import Message

LINK = "https://www.city.kodaira.tokyo.jp/kurashi/001.html"


def _msg(text: str, link: str | None = None) -> Message:
    return Message(municipality="kodaira", category="city_news", text=text, link=link)


@pytest.mark.parametrize(
    ("text", "link", "expected"),
    [
        ("お知らせ", None, "お知らせ"),
        ("お知らせ", LINK, f"お知らせ\n{LINK}"),
        (f"詳細は {LINK} をご覧ください", LINK, f"詳細は {LINK} をご覧ください"),
        ("  前後の空白  ", "  ", "前後の空白"),
    ],
)
def test_compose_text(text: str, link: str | None, expected: str) -> None:
    assert compose_text(_msg(text, link)) == expected


@pytest.mark.parametrize(
    ("text", "units"),
    [("abc", 3), ("市役所", 3), ("😀", 2), ("👨‍👩‍👧", 8), ("𠮷野家", 4), ("", 0)],
)
def test_utf16_len(text: str, units: int) -> None:
    assert utf16_len(text) == units


def test_utf8_len() -> None:
    assert utf8_len("aあ😀") == 1 + 3 + 4


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [
        ("ab👨‍👩‍👧", 3, 2),  # inside a ZWJ family: back to its start
        ("ab👨‍👩‍👧", 4, 2),
        ("ab👍🏽x", 3, 2),  # between the thumb and its skin tone
        ("cafe\u0301!", 4, 3),  # before a combining acute accent
        ("ab", 1, 1),
        ("ab", 9, 2),
    ],
)
def test_safe_cut(text: str, index: int, expected: int) -> None:
    assert safe_cut(text, index) == expected


def test_longest_prefix_matches_limit() -> None:
    text = "あ" * 300
    n = longest_prefix(text, lambda t: parse_tweet(t).weightedLength <= 280)
    assert n == 140


@pytest.mark.parametrize(
    ("text", "limit", "tail", "expected"),
    [
        ("短い", 10, "", "短い"),
        ("あいうえおかきくけこ", 5, "", "あいうえ…"),
        ("あいうえおかきくけこ", 8, "\nURL", "あいう…\nURL"),
        ("あいう   えお", 7, "", "あいう…"),  # no dangling spaces before the ellipsis
    ],
)
def test_truncate_to(text: str, limit: int, tail: str, expected: str) -> None:
    out = truncate_to(text, lambda t: len(t) <= limit, tail=tail)
    assert out == expected
    assert len(out) <= limit


def test_truncate_to_x_weighted_keeps_link() -> None:
    def fits(t: str) -> bool:
        return parse_tweet(t).weightedLength <= 280

    out = truncate_to("市" * 200, fits, tail="\n" + LINK)
    assert out.endswith("…\n" + LINK)
    assert fits(out)
    # 23 for the URL, 1 newline, 2 for the ellipsis: 254 left for kanji at 2 each.
    assert out.count("市") == 127


def test_truncate_never_splits_an_emoji() -> None:
    out = truncate_to("👨‍👩‍👧" * 5, lambda t: utf16_len(t) <= 20)
    assert out == "👨‍👩‍👧" * 2 + "…"


def test_split_prefers_sentence_ends() -> None:
    text = "一文目です。" * 10 + "二段落目。" * 10
    parts = split_to(text, lambda t: len(t) <= 40)
    assert all(len(p) <= 40 for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_split_with_marker_reserves_room() -> None:
    text = "\n".join(f"{i}行目のお知らせ本文" for i in range(30))
    parts = split_to(text, lambda t: len(t) <= 50, marker=lambda i, n: f" ({i}/{n})")
    assert len(parts) > 1
    assert all(len(p) <= 50 for p in parts)
    assert parts[0].endswith(f" (1/{len(parts)})")
    assert parts[-1].endswith(f" ({len(parts)}/{len(parts)})")


def test_split_single_part_has_no_marker() -> None:
    assert split_to("短い", lambda t: len(t) <= 50, marker=lambda i, n: f" ({i}/{n})") == ["短い"]


def test_split_hard_cut_without_breaks() -> None:
    parts = split_to("あ" * 25, lambda t: len(t) <= 10)
    assert parts == ["あ" * 10, "あ" * 10, "あ" * 5]


def test_split_raises_when_nothing_fits() -> None:
    with pytest.raises(ValueError):
        split_to("あいう", lambda t: False)
