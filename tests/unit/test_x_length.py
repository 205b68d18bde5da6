"""`fits_x` settles short texts without twitter-text; it must agree with twitter-text on every text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from gateway.adapters.render import X_MAX_WEIGHTED as MAX_WEIGHTED
from gateway.adapters.render import fits_x

# Pieces that move the weighted length in different ways: kana (2), ASCII (1), dots and short
# domains (URLs count 23), emoji sequences (2 for several code points), combining marks and
# characters that NFC recomposes or expands (U+0344 becomes two code points).
PIECES = st.sampled_from([
    "あ", "漢", "a", "Z", "1", " ", "\n", ".", "a.jp", "x.co", "t.co/ab", "https://e.jp/", "例え.jp", "。",
    "👍", "👨‍👩‍👧", "🇯🇵", "e\u0301", "\u0344", "\u0958", "ｱ", "＃", "@koho", "#防災",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, min_size=0, max_size=300))
def test_fits_x_agrees_with_twitter_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert fits_x(text) == (parse_tweet(text).weightedLength <= MAX_WEIGHTED), text


def test_many_short_urls_do_not_slip_under_the_quick_bound() -> None:
    text = " ".join(["a.jp"] * 12)  # 59 characters, but 12 URLs weigh 23 each
    assert parse_tweet(text).weightedLength > MAX_WEIGHTED
    assert not fits_x(text)
