"""`fits_x` settles short texts without the full parse; it must agree with `x_length` on every text, and
`x_length` with twitter-text-parser wherever that one counts right (everywhere but CR LF)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from gateway.adapters.render import X_MAX_WEIGHTED as MAX_WEIGHTED
from gateway.adapters.render import fits_x, x_clean, x_length

# Pieces that move the weighted length in different ways: kana (2), ASCII (1), dots and short
# domains (URLs count 23), emoji sequences (2 for several code points), combining marks and
# characters that NFC recomposes or expands (U+0344 becomes two code points).
PIECES = st.sampled_from([
    "あ", "漢", "a", "Z", "1", " ", "\n", ".", "a.jp", "x.co", "t.co/ab", "https://e.jp/", "例え.jp", "。",
    "👍", "👨‍👩‍👧", "🇯🇵", "e\u0301", "\u0344", "\u0958", "ｱ", "＃", "@koho", "#防災",
    # for the quick upper bound: keycaps (a digit in an emoji), full-width digits and signs, kana
    # with a combining sound mark, a long URL (23 however long), a word glued to a URL
    "1\ufe0f\u20e3", "１", "－", "ー", "か\u3099", "https://example.jp/" + "a" * 200, "詳細はexample.jp/を",
    # CR LF (2, where twitter-text-parser counts 1), and characters that make a post invalid
    "\r\n", "\r", "\ufeff", "\ufffe",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, min_size=0, max_size=600))
def test_fits_x_agrees_with_the_weighted_length(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert fits_x(text) == (x_length(x_clean(text)).weighted_length <= MAX_WEIGHTED), text
    parsed = parse_tweet(text)
    crlf = text.count("\r\n")
    assert x_length(text).weighted_length == parsed.weightedLength + crlf, text
    assert x_length(text).valid == (parsed.valid and parsed.weightedLength + crlf <= MAX_WEIGHTED), text


def test_many_short_urls_do_not_slip_under_the_quick_bound() -> None:
    text = " ".join(["a.jp"] * 12)  # 59 characters, but 12 URLs weigh 23 each
    assert parse_tweet(text).weightedLength > MAX_WEIGHTED
    assert not fits_x(text)


def test_a_long_text_is_settled_without_measuring_it_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 characters take twitter-text ~0.1 s per measure, on the event loop: rendering such a
    post for a truncating account used to measure it whole, and then halves of it, several times."""
    from gateway.adapters import render

    measured: list[int] = []

    def counting(text: str) -> Any:
        measured.append(len(text))
        return x_length(text)

    monkeypatch.setattr(render, "x_length", counting)
    text = "１－" * 10_000
    cut = render.truncate_to(text, fits_x)
    assert fits_x(cut) and cut.endswith("…") and len(cut) < 300
    assert max(measured) < 1_000, measured
