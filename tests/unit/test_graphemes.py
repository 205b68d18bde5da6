"""Text is never cut inside a character: every cut, on every platform, falls on a grapheme cluster
boundary (UAX #29). Flags, keycaps, ZWJ emoji, skin tones, kanji with an ideographic variation
selector and half-width kana with a sound mark stay whole at every limit."""

from __future__ import annotations

import regex
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.adapters.facebook import FacebookAdapter
from gateway.adapters.line import render_line
from gateway.adapters.render import (
    ELLIPSIS,
    cut_graphemes,
    fits_x,
    safe_cut,
    split_to,
    truncate_to,
    utf8_len,
    utf16_len,
)
from gateway.adapters.x import render_x
from gateway.adapters.youtube import fit_description, fit_title
from gateway.alerts.multilingual import correction_mark, correction_prefixes
from gateway.models import Media, MediaKind, Message, Platform, Translation
from gateway.pipeline.intake.languages import message_in
from gateway.pipeline.intake.validation import as_correction
from gateway.policy import LANGUAGES, Account

# One of each kind of character that is more than one code point, and plain text around them.
CLUSTERS = [
    "🇯🇵", "🇺🇸",  # flags (regional indicator pairs)
    "1\ufe0f\u20e3", "#\ufe0f\u20e3",  # keycaps
    "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈",  # ZWJ sequences
    "👍🏽", "🙋🏿\u200d♀\ufe0f",  # skin-tone modifiers
    "葛\U000e0100", "辻\U000e0101", "邊\U000e0103",  # kanji with an IVS
    "ﾊﾟ", "ｶﾞ", "ﾎﾟ",  # half-width katakana with a voiced / semi-voiced mark
    "か\u3099", "e\u0301", "\r\n",  # combining sound mark, combining accent, CR LF
]
PLAIN = ["あ", "市", "a", "1", " ", "\n", "。", "、"]
PIECES = st.sampled_from(CLUSTERS + PLAIN)
TEXTS = st.lists(PIECES, min_size=1, max_size=300).map("".join)
GRAPHEME = regex.compile(r"\X")


def boundaries(text: str) -> set[int]:
    return {0} | {m.end() for m in GRAPHEME.finditer(text)}


def assert_parts_whole(source: str, parts: list[str]) -> None:
    """Each part is a run of whole clusters of `source`, taken in order."""
    cuts = boundaries(source)
    cursor = 0
    for part in parts:
        at = source.index(part, cursor)
        assert at in cuts and at + len(part) in cuts, (source, part)
        cursor = at + len(part)


def _account(platform: Platform, overflow: str = "truncate") -> Account:
    return Account(id=f"kodaira_{platform.value}", platform=platform, handle="@kodaira", manager="広報課",
                   categories=("city_news",), categories_clause="小平市 3(1)", x_overflow=overflow)


def _message(text: str) -> Message:
    return Message(municipality="kodaira", category="city_news", text=text)


# --- the helpers -----------------------------------------------------------------------------------


def test_each_kind_is_one_cluster() -> None:
    """The test's own premise: the regex library sees every sample as one character."""
    assert all(len(GRAPHEME.findall(c)) == 1 for c in CLUSTERS)


def test_safe_cut_backs_off_every_kind() -> None:
    for cluster in CLUSTERS:
        text = "あ" + cluster + "い"
        for inside in range(2, len(cluster) + 1):
            assert safe_cut(text, inside) == 1, cluster
        assert safe_cut(text, 1 + len(cluster)) == 1 + len(cluster)


def test_flags_pair_up_from_the_start() -> None:
    text = "🇯🇵🇺🇸🇯🇵"
    assert [safe_cut(text, i) for i in range(7)] == [0, 0, 2, 2, 4, 4, 6]


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(min_value=0, max_value=400))
def test_safe_cut_is_the_largest_boundary(text: str, index: int) -> None:
    cut = safe_cut(text, index)
    cuts = boundaries(text)
    assert cut in cuts
    assert cut == max(b for b in cuts if b <= index)
    assert cut_graphemes(text, index) == text[:cut]


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(min_value=1, max_value=120), st.sampled_from(["chars", "utf16", "bytes", "x"]))
def test_truncation_ends_on_a_whole_character(text: str, limit: int, measure: str) -> None:
    fits = {"chars": lambda t: len(t) <= limit, "utf16": lambda t: utf16_len(t) <= limit,
            "bytes": lambda t: utf8_len(t) <= limit * 2, "x": fits_x}[measure]
    out = truncate_to(text, fits)
    assert fits(out) or out == ""
    head = out.removesuffix(ELLIPSIS) if out != text else out
    assert text.startswith(head)
    assert len(head) in boundaries(text), (text, out)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(min_value=12, max_value=80))
def test_split_parts_are_whole_characters(text: str, limit: int) -> None:
    parts = split_to(text, lambda t: len(t) <= limit)
    assert all(len(p) <= limit for p in parts)
    assert_parts_whole(text.strip(), parts)


def test_a_cut_never_grows_past_the_limit_to_keep_a_family_whole() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"  # 7 code points, 11 UTF-16 units
    assert truncate_to("あ" + family * 3, lambda t: utf16_len(t) <= 10) == "あ" + ELLIPSIS


# --- every platform's renderer --------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(min_value=1, max_value=40))
def test_x_truncate_and_thread(text: str, repeat: int) -> None:
    long_text = (text + "。") * repeat
    [truncated] = [p.text for p in render_x(_message(long_text), _account(Platform.X)).parts]
    assert fits_x(truncated)
    assert_parts_whole(long_text.strip(), [truncated.removesuffix(ELLIPSIS)])
    thread = [p.text for p in render_x(_message(long_text), _account(Platform.X, "thread")).parts]
    assert all(fits_x(t) for t in thread)
    bodies = [regex.sub(r" \(\d+/\d+\)$", "", t) for t in thread]
    assert_parts_whole(long_text.strip(), bodies)


@settings(max_examples=15, deadline=None)
@given(TEXTS)
def test_line_parts(text: str) -> None:
    long_text = (text + "。") * (6000 // len(text) + 1)  # past 5,000 UTF-16 units
    parts = [p.text for p in render_line(_message(long_text), _account(Platform.LINE)).parts]
    assert len(parts) > 1 and all(utf16_len(p) <= 5000 for p in parts)
    assert_parts_whole(long_text.strip(), parts)


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_facebook_alt_text(text: str) -> None:
    """A post's text cannot reach Facebook's 63,206 (messages stop at 20,000); alt text is cut at 1,000."""
    alt = text * (1_001 // len(text) + 1)
    image = Media(kind=MediaKind.IMAGE, path="a.png", alt_text=alt)
    message = _message("写真").model_copy(update={"media": (image,)})
    post = FacebookAdapter.render(_facebook(), message, _account(Platform.FACEBOOK))
    [fitted] = [m.alt_text or "" for m in post.parts[0].media]
    assert len(fitted) <= 1_000
    assert_parts_whole(image.alt_text or "", [fitted.removesuffix(ELLIPSIS)])


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_youtube_title_and_description(text: str) -> None:
    assume(text.strip())  # a blank title is replaced by a fixed one
    title = fit_title(text * 5)
    assert len(title) <= 100
    assert title.endswith(ELLIPSIS) or len(" ".join((text * 5).split())) <= 100
    assert_parts_whole(" ".join((text * 5).split()), [title.removesuffix(ELLIPSIS)])
    body = text * (5_000 // len(text) + 1)
    description = fit_description(body, None)
    assert utf8_len(description) <= 5_000
    assert_parts_whole(body.strip(), [description.removesuffix(ELLIPSIS)])


def _facebook() -> FacebookAdapter:
    return FacebookAdapter.__new__(FacebookAdapter)  # render is pure: no settings or session needed


@settings(max_examples=40, deadline=None)
@given(TEXTS, st.integers(min_value=1, max_value=20), st.sampled_from([c for c in LANGUAGES if c != "ja"]))
def test_a_corrections_version_is_threaded_whole_with_its_mark(text: str, repeat: int, language: str) -> None:
    """A correction's version in another language is fitted like the Japanese: its mark leads the first part
    whole, and every cut falls between characters."""
    version = (text + "。") * repeat
    assume(version.strip())
    source = Message(municipality="kodaira", category="city_news", text="訂正です。", correction_of="m_1",
                     translations=(Translation(language=language, text=version),))
    corrected = as_correction(source, correction_prefixes())
    marked = corrected.translations[0].text
    account = _account(Platform.X, "thread").model_copy(update={"languages": ("ja", language)})
    thread = [p.text for p in render_x(message_in(corrected, account, language), account).parts]
    assert thread[0].startswith(correction_mark(language)) and all(fits_x(t) for t in thread)
    assert_parts_whole(marked.strip(), [regex.sub(r" \(\d+/\d+\)$", "", t) for t in thread])
