"""Shared helpers for the check tests: one engine per test session, a municipality built in code."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from gateway.models import CheckResult, Finding, Message, Platform
from gateway.pipeline.checks import CheckEngine, CheckInput
from gateway.policy import (
    Account,
    Approval,
    Contacts,
    Credentials,
    Hours,
    Links,
    Municipality,
    Shares,
)

CLAUSES = {
    key: f"テスト市運用方針 {key}"
    for key in ("confidential", "personal", "political", "religious", "bias", "discrimination", "illegal",
                "rumour", "provocation", "obscene", "malware", "public_order", "accessibility", "categories",
                "shares", "links")
}
CLAUSES["political"] = "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)ア(カ)"


def municipality(**overrides: Any) -> Municipality:
    data: dict[str, Any] = dict(
        id="testcity", name="テスト市", policy_title="テスト市運用方針",
        hours=Hours(clause="h"), approval=Approval(clause="a"), credentials=Credentials(clause="c"),
        shares=Shares(allowed_classes=("public_body", "scenery", "other_approved"), clause="テスト市 シェア規定"),
        links=Links(allowed_domains=("city.test.lg.jp", "lg.jp", "go.jp"), clause="テスト市 リンク規定"),
        contacts=Contacts(phone_numbers=("046-873-1111",), addresses=("神奈川県テスト市本町5-2-16",),
                          email_domains=("city.test.lg.jp",)),
        accounts=(
            Account(id="testcity_x", platform=Platform.X, handle="test_city", manager="広報課長",
                    categories=("city_news", "event", "emergency", "tourism"), categories_clause="テスト市 5"),
            Account(id="testcity_mayor_x", platform=Platform.X, handle="test_mayor", purpose="mayor",
                    manager="秘書課長", categories=("mayor",), categories_clause="テスト市 5(2) 市長室"),
            Account(id="testcity_line", platform=Platform.LINE, handle="@test", manager="広報課長",
                    categories=("city_news", "emergency"), categories_clause="テスト市 6"),
            Account(id="testcity_youtube", platform=Platform.YOUTUBE, handle="UCtest", manager="広報課長",
                    categories=("tourism",), categories_clause="テスト市 7"),
        ),
        clauses=CLAUSES,
    )
    data.update(overrides)
    return Municipality(**data)


@lru_cache(maxsize=1)
def engine() -> CheckEngine:
    return CheckEngine()


def check(text: str = "お知らせです。", *, city: Municipality | None = None, today: date | None = None,
          **fields: Any) -> CheckResult:
    city = city or municipality()
    message = Message(municipality=city.id, category=fields.pop("category", "city_news"), text=text, **fields)
    if message.accounts is None:
        accounts = city.accounts_for(message.category)
    else:
        accounts = tuple(a for a in (city.account(i) for i in message.accounts) if a is not None)
    return engine().check(CheckInput(message, city, accounts, today=today))


def rules(result: CheckResult) -> set[str]:
    return {f.rule for f in result.findings}


def only(result: CheckResult, prefix: str) -> list[Finding]:
    return [f for f in result.findings if f.rule.startswith(prefix)]
