"""Accessibility (逗子 3-4(4)): every image has meaningful alt text within each platform's limit."""

from __future__ import annotations

import re

from gateway.models import Finding, Media, MediaKind, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.checks.text import normalise

_FILE_NAME = re.compile(
    r"^(?:[\w\-. ()\[\]]*[/\\])*[\w\-. ()\[\]]+\.(?:jpe?g|png|gif|webp|heic|heif|bmp|tiff?|svg|avif)$",
    re.IGNORECASE)
_CAMERA_NAME = re.compile(r"^(?:img|dsc|dscn|dcim|pxl|screenshot|スクリーンショット)[\s_\-]*[\d_\-\s]*$",
                          re.IGNORECASE)
# "画像1", "写真①です", "image 2": a generic word plus a number, nothing else.
_TRAILER = re.compile(r"[\s\d_\-#.。、()①-⑳]*(?:です|でした|。)?$")
_MIN_CHARS = 2


def check(ctx: Prepared) -> list[Finding]:
    clause = ctx.clause("accessibility")
    findings: list[Finding] = []
    for index, media in enumerate(ctx.message.media):
        if media.kind is not MediaKind.IMAGE:
            continue
        problem = _meaningless(media, ctx.lexicon.words("alt_text_generic"))
        if problem is not None:
            findings.append(ctx.finding("accessibility.alt_text", Severity.BLOCK, clause,
                                        f"画像{index + 1}（{media.label}）: {problem}"))
            continue
        findings.extend(_over_limits(ctx, index, media, clause))
    return findings


def _meaningless(media: Media, generic: frozenset[str]) -> str | None:
    alt = normalise(media.alt_text or "")[0].strip()
    if not alt:
        return "代替テキスト（画像の説明）がありません。画像に何が写っているかを文章で書いてください。"
    if _FILE_NAME.match(alt) or _CAMERA_NAME.match(alt) or alt == media.label.rsplit("/", 1)[-1]:
        return f"代替テキスト「{media.alt_text}」はファイル名です。画像の内容を説明する文章にしてください。"
    core = _TRAILER.sub("", alt).lower()
    if core in generic or len(alt) < _MIN_CHARS:
        return (f"代替テキスト「{media.alt_text}」では画像の内容が伝わりません。"
                "何が写っているか（例:「小平ふるさと村のかやぶき屋根の古民家」）を書いてください。")
    return None


def _over_limits(ctx: Prepared, index: int, media: Media, clause: str) -> list[Finding]:
    findings: list[Finding] = []
    length = len(media.alt_text or "")
    for account in ctx.inp.accounts:
        limit = ctx.alt_text_limits.get(account.platform)
        if limit is not None and length > limit:
            findings.append(ctx.finding(
                "accessibility.alt_text_length", Severity.BLOCK, clause,
                f"画像{index + 1}（{media.label}）: 代替テキストが{length}文字あり、"
                f"{account.platform.value} の上限{limit}文字を超えています。{limit}文字以内に短くしてください。",
                account=account.id))
    return findings
