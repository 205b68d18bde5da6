"""Shares and links (美祢 第4-2(4), 小平 3(6), 逗子 3-4(6)).

A share's source class and source must be on the municipality's list; 小平 quotes only bodies
whose official status is confirmed (go.jp / lg.jp, or listed). Links outside the allowed domains
and URL shorteners go to review: a link implies the city vouches for the page.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.models import PLATFORM_SPECS, Finding, Severity, Share, ShareSourceClass
from gateway.pipeline.checks.context import Prepared
from gateway.pipeline.checks.urls import Url, domain_matches, host_of, urls

_CLASS_LABELS = {
    ShareSourceClass.SCENERY: "市の景観",
    ShareSourceClass.PUBLIC_BODY: "公共機関",
    ShareSourceClass.CERTIFIED_BUSINESS: "公共機関が認定・紹介する事業者",
    ShareSourceClass.LOCAL_JOBS: "市内事業者の求人",
    ShareSourceClass.AMBASSADOR: "ふるさと交流大使",
    ShareSourceClass.OTHER_APPROVED: "その他（要承認）",
}
_PUBLIC_SUFFIXES = ("go.jp", "lg.jp")
_SOCIAL_HOSTS = tuple(host for declared in PLATFORM_SPECS.values() for host in declared.hosts)


def check(ctx: Prepared) -> list[Finding]:
    findings = list(_share(ctx, ctx.message.share)) if ctx.message.share else []
    findings.extend(_links(ctx))
    return findings


def _share(ctx: Prepared, share: Share) -> Iterator[Finding]:
    rules = ctx.municipality.shares
    clause = rules.clause or ctx.clause("shares")
    label = _CLASS_LABELS.get(share.source_class, share.source_class.value)
    if share.source_class not in rules.allowed_classes:
        yield ctx.finding("shares.source_class", Severity.BLOCK, clause,
                          f"シェア元の種別「{label}」はこの自治体ではシェアできません。")
    elif rules.public_bodies_only and not (_public_body(share) or _listed(share, rules.allowed_sources)
                                           or _official_account(share, ctx.lexicon.words("public_body_accounts"))):
        yield ctx.finding("shares.unconfirmed_public_body", Severity.BLOCK, clause,
                          f"シェア元「{share.source}」は公式であることが確認できる公的機関"
                          "（go.jp・lg.jp のサイト等）ではありません。公的機関の発信のみ引用できます。")
    elif (share.source_class is ShareSourceClass.CERTIFIED_BUSINESS and rules.allowed_sources
          and not _listed(share, rules.allowed_sources)):
        # 美祢 第4-2(4)ウ: the list names the certifications (Mineコレクション, やまぐち食彩店).
        yield ctx.finding("shares.source", Severity.REVIEW, clause,
                          f"シェア元「{share.source}」は登録された認定・紹介の一覧（"
                          f"{'、'.join(rules.allowed_sources)}）にありません。認定事業者か確認してください。")
    elif share.source_class in rules.review_classes:
        yield ctx.finding("shares.needs_review", Severity.REVIEW, clause,
                          f"シェア元の種別「{label}」は、シェアが適当か承認者の判断が必要です。")


def _listed(share: Share, sources: tuple[str, ...]) -> bool:
    wanted = [s.lower().lstrip("@") for s in sources]
    source = share.source.lower().lstrip("@")
    host, _ = host_of(share.url)
    return any(w and (w in source or host == w or host.endswith("." + w)) for w in wanted)


def _official_account(share: Share, handles: frozenset[str]) -> bool:
    """A confirmed official account of a public body (a ministry's X account, say), named by its
    handle in `source` or in the share URL's path (x.com/MHLWitter/status/...)."""
    host, _ = host_of(share.url)
    named = {share.source.lower().strip().lstrip("@")}
    if domain_matches(host, _SOCIAL_HOSTS):
        path = share.url.split("://", 1)[-1].split("/", 2)
        if len(path) > 1:
            named.add(path[1].lower().lstrip("@"))
    return bool(named & handles)


def _public_body(share: Share) -> bool:
    host, _ = host_of(share.url)
    source = share.source.lower()
    return domain_matches(host, _PUBLIC_SUFFIXES) or domain_matches(source, _PUBLIC_SUFFIXES)


def _links(ctx: Prepared) -> Iterator[Finding]:
    links = ctx.municipality.links
    clause = links.clause or ctx.clause("links")
    shorteners = ctx.lexicon.words("url_shorteners")
    allowed = (*links.allowed_domains, *_PUBLIC_SUFFIXES)
    official = ctx.message.share is not None and _official_account(
        ctx.message.share, ctx.lexicon.words("public_body_accounts"))
    for url in urls(ctx):
        if not url.host or (official and url.label == "シェア元URL"):
            continue
        finding = _link_finding(ctx, url, clause, shorteners, allowed)
        if finding is not None:
            yield finding


def _link_finding(ctx: Prepared, url: Url, clause: str, shorteners: frozenset[str],
                  allowed: tuple[str, ...]) -> Finding | None:
    if ctx.municipality.links.shorteners_review and domain_matches(url.host, shorteners):
        return ctx.finding("links.shortener", Severity.REVIEW, clause,
                           f"{url.label}「{url.url[:60]}」は短縮URLです。リンク先が分かるよう元のURLを記載してください。",
                           field=url.field, span=url.span)
    if ctx.municipality.links.allowed_domains and not domain_matches(url.host, allowed):
        return ctx.finding("links.domain", Severity.REVIEW, clause,
                           f"{url.label}「{url.url[:60]}」は許可されたドメイン外のリンクです。"
                           "リンク先の内容を市が保証することになるため、掲載が適当か確認してください。",
                           field=url.field, span=url.span)
    return None
