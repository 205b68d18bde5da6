"""Resolve a message's municipality and target accounts, refusing unknown or disallowed ones."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import FieldProblem, InputError
from gateway.models import Message
from gateway.policy import CATEGORIES, Account, Municipality, Policies


@dataclass(frozen=True)
class Targets:
    municipality: Municipality
    accounts: tuple[Account, ...]


def resolve_targets(message: Message, policies: Policies) -> Targets:
    """The municipality and accounts a message goes to.

    Omitted `accounts` means every account whose allowed categories include the category.
    Accounts named explicitly must exist in that municipality; whether each allows the category
    is the categories check's job (it cites the clause).
    """
    municipality = policies.get(message.municipality)
    if municipality is None:
        known = "、".join(policies.ids())
        raise _invalid("municipality", "unknown_municipality", f"不明な自治体です（指定できる値: {known}）")
    if message.category not in CATEGORIES:
        known = "、".join(CATEGORIES)
        raise _invalid("category", "unknown_category", f"不明なカテゴリです（指定できる値: {known}）")
    if message.accounts is None:
        accounts = municipality.accounts_for(message.category)
        if not accounts:
            raise _invalid("category", "no_account_for_category",
                           f"カテゴリ {message.category}（{CATEGORIES[message.category]}）を発信できるアカウントが"
                           f"{municipality.name}にありません")
        return Targets(municipality, accounts)
    return Targets(municipality, _named_accounts(message.accounts, municipality))


def _named_accounts(names: tuple[str, ...], municipality: Municipality) -> tuple[Account, ...]:
    if not names:
        raise _invalid("accounts", "no_accounts", "送信先アカウントを1つ以上指定するか、項目を省略してください")
    problems: list[FieldProblem] = []
    accounts: list[Account] = []
    for index, name in enumerate(names):
        account = municipality.account(name)
        if account is None:
            problems.append(FieldProblem(f"accounts[{index}]", "unknown_account",
                                         f"{municipality.name}のアカウントではありません: {name}"))
        elif account in accounts:
            problems.append(FieldProblem(f"accounts[{index}]", "duplicate_account", f"重複しています: {name}"))
        else:
            accounts.append(account)
    if problems:
        raise InputError("送信先アカウントに誤りがあります", problems)
    return tuple(accounts)


def _invalid(field: str, code: str, message: str) -> InputError:
    return InputError(f"{field}: {message}", [FieldProblem(field, code, message)], code=code)
