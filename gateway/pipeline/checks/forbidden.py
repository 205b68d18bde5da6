"""Other forbidden content (逗子 3-1(2)ア(ウ)(エ)(ク)・イ, 美祢 第4-4(4)ア・ウ・エ・カ).

Discrimination, incitement to illegal acts, mere rumours, provocation, obscenity and public
order are lexicon rules; links to executables and dangerous URL schemes are structural.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from gateway.models import Finding, Severity
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.checks.urls import Url, domain_matches, urls

FAMILIES = ("discrimination", "illegal", "rumour", "provocation", "obscene", "public_order")
_BAD_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})


def check(ctx: Prepared) -> list[Finding]:
    findings = ctx.rule_findings(*FAMILIES)
    findings.extend(_malware(ctx))
    return findings


def _malware(ctx: Prepared) -> Iterator[Finding]:
    clause = ctx.clause("malware")
    executables = ctx.lexicon.words("executable_extensions")
    archives = ctx.lexicon.words("archive_extensions")
    bad_hosts = ctx.lexicon.words("bad_hosts")
    for url in urls(ctx):
        problem = _problem(url, executables, archives, bad_hosts)
        if problem is None:
            continue
        rule, severity, message = problem
        yield ctx.finding(rule, severity, clause, f"{url.label}「{url.url[:60]}」: {message}",
                          field=url.field, span=url.span)


def _problem(url: Url, executables: frozenset[str], archives: frozenset[str],
             bad_hosts: frozenset[str]) -> tuple[str, Severity, str] | None:
    if url.scheme in _BAD_SCHEMES:
        return ("malware.scheme", Severity.BLOCK,
                "スクリプトやローカルファイルを開くURLは掲載できません。削除してください。")
    if domain_matches(url.host, bad_hosts):
        return "malware.bad_host", Severity.BLOCK, "既知の危険なサイトへのリンクです。削除してください。"
    suffix = PurePosixPath(urlsplit(url.url if "://" in url.url else "https://" + url.url).path).suffix.lower()
    if suffix.lstrip(".") in executables:
        return ("malware.executable", Severity.BLOCK,
                "実行ファイル（プログラム）へのリンクです。機器に害を与えるおそれがあるため掲載できません。")
    if suffix.lstrip(".") in archives:
        return ("malware.archive", Severity.REVIEW,
                "圧縮ファイルへの直接リンクです。中身が安全であることを確認するか、案内ページへのリンクにしてください。")
    if url.host.startswith("xn--") or ".xn--" in url.host:
        return ("malware.punycode", Severity.REVIEW,
                "国際化ドメイン名（見た目の似た偽サイトに使われることがあります）です。正しいリンク先か確認してください。")
    return None
