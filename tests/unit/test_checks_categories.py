"""Categories and shares/links."""

from __future__ import annotations

from gateway.models import Severity, Verdict
from gateway.policy import Links, Shares
from tests.unit.test_checks_fixtures import check, municipality, only


def test_every_target_account_must_allow_the_category() -> None:
    result = check("市長が小学校を訪問しました", category="mayor", accounts=["testcity_mayor_x", "testcity_x"])
    found = only(result, "categories")
    assert [f.account for f in found] == ["testcity_x"]
    assert found[0].clause == "テスト市 5" and found[0].severity is Severity.BLOCK


def test_mayor_account_carries_only_mayor() -> None:
    found = only(check("市民まつり", category="event", accounts=["testcity_mayor_x"]), "categories")
    assert found and found[0].clause == "テスト市 5(2) 市長室"


def test_no_account_allows_the_category() -> None:
    assert only(check("求人です", category="jobs"), "categories.no_account")


def test_allowed_category_passes() -> None:
    assert check("市長が学校を訪問しました", category="mayor").verdict is Verdict.PASS


def test_links_outside_allowed_domains_and_shorteners_review() -> None:
    result = check("詳しくは https://bit.ly/3xYz と https://www.example.com/x を")
    assert {f.rule for f in result.findings} == {"links.shortener", "links.domain"}
    assert result.verdict is Verdict.REVIEW
    assert check("詳しくは https://www.city.test.lg.jp/a.html と https://www.jma.go.jp/").verdict is Verdict.PASS


def test_link_field_has_no_span() -> None:
    finding = only(check("動画です", link="https://tinyurl.com/abc"), "links")[0]
    assert finding.start is None and "リンク" in finding.message


def test_share_source_class_and_public_bodies_only() -> None:
    share = {"url": "https://x.com/cafe/status/1", "source": "@cafe", "source_class": "certified_business"}
    assert only(check("シェアします", share=share), "shares.source_class")[0].severity is Severity.BLOCK
    kodaira_like = municipality(shares=Shares(allowed_classes=("public_body",), public_bodies_only=True,
                                              review_classes=(), clause="小平 3(6)"))
    fake = {"url": "https://x.com/someone/status/1", "source": "@someone", "source_class": "public_body"}
    assert only(check("引用", city=kodaira_like, share=fake), "shares.unconfirmed_public_body")
    real = {"url": "https://www.metro.tokyo.lg.jp/news", "source": "metro.tokyo.lg.jp", "source_class": "public_body"}
    assert check("引用", city=kodaira_like, share=real).verdict is Verdict.PASS


def test_review_class_and_empty_domain_list() -> None:
    share = {"url": "https://www.city.test.lg.jp/a", "source": "city.test.lg.jp", "source_class": "other_approved"}
    assert check("シェア", share=share).verdict is Verdict.REVIEW
    open_links = municipality(links=Links(allowed_domains=(), clause="規定"))
    assert check("https://www.example.com/", city=open_links).verdict is Verdict.PASS
