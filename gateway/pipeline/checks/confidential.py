"""Confidential information (逗子 3-1(2)ア(ア)(オ)): stamps, embargo lines, internal locations, credentials.

Stamps and embargo wording live in the lexicon (family `confidential`); internal addresses and
credentials are structural, so they are matched here. Token formats (AWS, GitHub, Slack, JWT,
private keys, ...) come from detect-secrets' maintained regex plugins; its keyword and entropy
plugins are left out because they are written for source code and fire on ordinary URLs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import partial

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Field, Prepared
from gateway.pipeline.checks.secrets import token_spans

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_UNC = re.compile(r"(?:\\\\|¥¥)[\w.$\-]+(?:[\\¥][^\s\\¥「」『』()、。]+)+")
_DRIVE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]:[\\¥][^\s「」『』()、。]*")
_HOST = re.compile(
    r"(?<![\w.\-@])(?:localhost|(?:[A-Za-z0-9\-]+\.)+(?:local|internal|intranet|corp|lan|localdomain|home\.arpa))"
    r"(?![\w\-])", re.IGNORECASE)
_FILE_URL = re.compile(r"file:/{2,3}\S+", re.IGNORECASE)
# Prefilters: each structural pattern needs one of these strings. Case variants are spelled out
# because a case-insensitive regex loses the engine's fast literal scan.
def _literals(*words: str) -> re.Pattern[str]:
    variants = {v for w in words for v in (w, w.lower(), w.upper(), w.capitalize())}
    return re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)))


_HOST_HINT = _literals("localhost", ".local", ".internal", ".intranet", ".corp", ".lan", "home.arpa", "file:")
_DOTTED_DIGITS = re.compile(r"\d\.\d")
_SECRET_HINT = _literals(
    "pass", "pw", "pin", "key", "secret", "token", "auth", "begin", "akia", "ghp_", "gho_", "glpat", "xox",
    "sk-", "sk_", "eyj", "npm_", "pypi-", "sg.", "パスワード", "ﾊﾟｽﾜｰﾄﾞ", "暗証", "パスコード", "認証", "キー",
    "シークレット", "トークン", "秘密鍵", "錠")
_SECRET_KEYWORD = (
    r"(?:(?:ID|ユーザー?ID|ログインID)\s*[/／・]\s*)?"
    r"(?:パスワード|ﾊﾟｽﾜｰﾄﾞ|暗証番号|パスコード|PINコード|PIN|認証コード|ワンタイムパスワード|"
    r"password|passwd|passphrase|pwd|PW|pass|APIキー|API\s?key|api[_\-]?key|アクセスキー|access[_\-\s]?key|"
    r"シークレットキー|シークレット|client[_\-]?secret|secret[_\-]?key|secret|アクセストークン|トークン|"
    r"access[_\-]?token|token|秘密鍵|"
    # a lock's code (「倉庫のダイヤル錠の番号は、どの避難所も「0438」」)
    r"(?:ダイヤル錠|ダイヤルロック|キーボックス|南京錠|電子錠|錠)の(?:暗証)?番号|解錠番号|開錠番号)"
)
_VALUE = r"[A-Za-z0-9!#$%&*+\-./=?@^_~]"  # what a password or a code is written with
_CREDENTIAL = re.compile(
    # the value after a separator (「パスワードは…」「暗証番号が「…」に」), or right after a Japanese keyword
    # (「暗証番号4810」); never right after an English one ("passport")
    _SECRET_KEYWORD + r"(?:\s*(?:[:=→]|は|を|が|も)\s*[\"'「『]?\s*|(?:(?<=番号)|(?<=ワード)|(?<=コード))\s?[\"'「『]?)"
    rf"(?P<value>(?!https?://){_VALUE}{{4,}}(?:\s*/\s*[A-Za-z0-9!#$%&*+\-.=?@^_~]{{3,}})?)",
    re.IGNORECASE)
# the value in brackets a few words later (「暗証番号はすべて共通の「1923」にしています」)
_CREDENTIAL_QUOTED = re.compile(
    _SECRET_KEYWORD + r"\s*(?:は|が|も)[^。「『\n]{1,16}?[「『]\s*"
    rf"(?P<value>{_VALUE}{{4,}})\s*[」』](?!など|や|のような|にしていませんか|は避け)",
    re.IGNORECASE)


_DRAFT_STAMP = re.compile(r"[【\[(〔<《「『]\s*(?:案|素案|原案|改定案|検討中)\s*[】\])〕>》」』]")


def check(ctx: Prepared) -> list[Finding]:
    findings = ctx.rule_findings("confidential", allowed=partial(_published_draft, ctx))
    clause = ctx.clause("security", "confidential")
    for fld in ctx.fields:
        findings.extend(_internal(ctx, fld, clause))
        findings.extend(_credentials(ctx, fld, clause))
    return findings


def _published_draft(ctx: Prepared, rule: str, fld: Field, span: tuple[int, int]) -> bool:
    """A 「…（案）」 in a public-comment notice names a draft the city has published, not a stamp.

    The stamp may stand in the title and the notice's words in the body, or the other way round.
    """
    if rule != "confidential.stamp" or not _DRAFT_STAMP.fullmatch(fld.view.norm[span[0]:span[1]].strip()):
        return False
    words = ctx.lexicon.words("public_comment_context")
    return any(word in f.view.norm for f in ctx.fields if f.key in ("text", "title") for word in words)


def _internal(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    for span, what in _internal_spans(fld.view.norm):
        yield ctx.finding(
            "confidential.internal_address", Severity.BLOCK, clause,
            f"「{ctx.excerpt(fld, span)}」は{what}です。"
            "庁内の機器やネットワークの所在は公開できません。削除してください。",
            field=fld, span=span)


def _internal_spans(text: str) -> Iterator[tuple[tuple[int, int], str]]:
    if not ("::" in text or "\\" in text or "¥" in text or _DOTTED_DIGITS.search(text) or _HOST_HINT.search(text)):
        return
    for m in _IPV4.finditer(text):
        if _is_internal_ip(m.group()):
            yield m.span(), "内部ネットワークのIPアドレス"
    for m in _IPV6.finditer(text):
        if _is_internal_ip(m.group()):
            yield m.span(), "内部ネットワークのIPアドレス"
    for regex, what in ((_UNC, "共有フォルダのパス"), (_DRIVE, "ドライブ上のファイルパス"),
                        (_HOST, "内部ネットワークのホスト名"), (_FILE_URL, "ローカルファイルのURL")):
        for m in regex.finditer(text):
            yield m.span(), what


def _is_internal_ip(candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def _credentials(ctx: Prepared, fld: Field, clause: str) -> Iterator[Finding]:
    if not _SECRET_HINT.search(fld.view.norm):
        return
    spans = [m.span("value") for pattern in (_CREDENTIAL, _CREDENTIAL_QUOTED) for m in pattern.finditer(fld.view.norm)]
    spans.extend(token_spans(fld.view.norm))
    for span in sorted(set(spans)):
        yield ctx.finding(
            "confidential.credential", Severity.BLOCK, clause,
            "パスワード・暗証番号・APIキー等の認証情報が含まれています。認証情報は投稿せず、直ちに変更してください。",
            field=fld, span=span)
