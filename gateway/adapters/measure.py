"""How far a post is over its platform's limits, measured as each adapter measures what it sends: the
`length.` check (no silent cut) and the console's counters ask here, so neither names a platform.

`overflow` answers for one post (one language version; for a platform that carries an account's languages
together, the post that carries them); `counters` gives the figures the compose preview shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.adapters.facebook import feed_body
from gateway.adapters.instagram import problems as instagram_problems
from gateway.adapters.line import problems as line_problems
from gateway.adapters.line import render_line
from gateway.adapters.render import (
    compose_text,
    fits_x,
    quoted_post_id,
    utf8_len,
    utf16_len,
    x_clean,
    x_length,
    youtube_description,
    youtube_title,
)
from gateway.models import Limits, MediaKind, Message, Platform, Post
from gateway.policy import Account

# How far over, the limit in words, and the field that is over it.
Overflow = tuple[int, str, str]
BODY = "本文（リンクを含む）"

_X = Platform.X.spec.limits
_LINE = Platform.LINE.spec.limits
_FACEBOOK = Platform.FACEBOOK.spec.limits
_INSTAGRAM = Platform.INSTAGRAM.spec.limits
_YOUTUBE = Platform.YOUTUBE.spec.limits


def _x_text(message: Message) -> str:
    """The text X gets before any cut (a quoted post's address is not in it)."""
    return x_clean(compose_text(message, with_share=quoted_post_id(message) is None))


def _body(over: int, limit: str) -> Overflow | None:
    return (over, limit, BODY) if over > 0 else None


def _x(message: Message, account: Account) -> Overflow | None:
    if account.x_overflow == "thread":
        return None  # split into a thread instead of cut
    text = _x_text(message)
    over = 0 if fits_x(text) else x_length(text).weighted_length - _X.max_text
    return _body(over, f"X の上限 {_X.max_text}（全角は2、URLは23と数えます）")


def _facebook(message: Message, account: Account) -> Overflow | None:
    images = tuple(m for m in message.media if m.kind is MediaKind.IMAGE)
    return _body(len(feed_body(message, images)) - _FACEBOOK.max_text, f"Facebook の上限 {_FACEBOOK.max_text:,} 文字")


def _instagram(message: Message, account: Account) -> Overflow | None:
    return _body(len(compose_text(message)) - _INSTAGRAM.max_text,
                 f"Instagram のキャプションの上限 {_INSTAGRAM.max_text:,} 文字")


def _youtube(message: Message, account: Account) -> Overflow | None:
    """A video's description (bytes) or its own title (characters) too long; a post without a video is not
    sent to YouTube at all, and a title taken from the text's first line is a heading, cut by design."""
    if not any(m.kind is MediaKind.VIDEO for m in message.media):
        return None
    body, tail = youtube_description(message.text, message.link)
    most = _YOUTUBE.max_description_bytes or 0
    over = utf8_len(body + tail) - most
    if over > 0:
        return over, f"YouTube の説明欄の上限 {most:,} バイト（全角1文字は3バイト）", BODY
    title_max = _YOUTUBE.max_title or 0
    over = len(youtube_title(message.title or "")) - title_max
    if over > 0:
        return over, f"YouTube のタイトルの上限 {title_max} 文字", "タイトル"
    return None


def _line(message: Message, account: Account) -> Overflow | None:
    """A broadcast of more than 5 messages (its languages' texts, split at 5,000, and its images)."""
    over = len(render_line(message, account).parts) - _LINE.max_parts
    if over <= 0:
        return None
    return over, f"LINE の1回の上限 {_LINE.max_parts} 通（言語ごとの本文・長文の分割・画像を合わせて）", "メッセージ数"


_OVERFLOW: dict[Platform, Callable[[Message, Account], Overflow | None]] = {
    Platform.X: _x, Platform.LINE: _line, Platform.FACEBOOK: _facebook, Platform.INSTAGRAM: _instagram,
    Platform.YOUTUBE: _youtube,
}


def overflow(message: Message, account: Account) -> Overflow | None:
    """How far `message`, as `account`'s platform would get it, is over that platform's limit; None if it fits."""
    return _OVERFLOW[account.platform](message, account)


def counters(limits: Limits, post: Post, message: Message, account: Account) -> dict[str, Any]:
    """The compose preview's counters of `post` (rendered from `message` for `account`) and what its platform
    would refuse in it, in Japanese; `over` when a counter is past its maximum."""
    texts = [p.text for p in post.parts if p.text]
    out: dict[str, Any] = {"problems": [], "counts": []}
    if post.platform is Platform.X:
        if account.x_overflow != "thread":
            texts = [_x_text(message)]  # the counter shows how far over it is, not the cut result
        out["counts"] = [{"label": f"{i + 1}件目", "value": x_length(t).weighted_length,
                          "max": _X.max_text} for i, t in enumerate(texts)]
    elif post.platform is Platform.LINE:
        # LINE's limit is per message (a long text is split into several; emoji count two), and per broadcast.
        out["counts"] = [*({"label": f"{i + 1}通目", "value": utf16_len(t), "max": limits.max_text}
                           for i, t in enumerate(texts)),
                         {"label": "通数（画像を含む）", "value": len(post.parts), "max": limits.max_parts}]
        out["problems"] = line_problems(post)
    elif post.platform is Platform.YOUTUBE:
        out["counts"] = [{"label": "タイトル", "value": len(post.title or ""), "max": limits.max_title},
                         {"label": "説明（全角1文字を3と数えます）", "value": sum(utf8_len(t) for t in texts),
                          "max": limits.max_description_bytes}]
    else:
        out["counts"] = [{"label": "文字数", "value": sum(len(t) for t in texts), "max": limits.max_text}]
        if post.platform is Platform.INSTAGRAM:
            out["problems"] = instagram_problems(post)
    out["over"] = any(c["max"] is not None and c["value"] > c["max"] for c in out["counts"])
    return out
