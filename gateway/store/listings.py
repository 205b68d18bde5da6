"""The statements behind the paginated listings (deliveries, messages, audit): filters, a reader's scope,
order and pages are all decided in SQL, so no page is cut before it is filtered or sorted."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.models import DeliveryState, MessageState, Platform, Priority, Scope
from gateway.store.schema import audit_events, deliveries, messages

# A cursor of the API's keyset pages: the (created_at, id) of the last row of the page before.
Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class DeliveryQuery:
    """Which deliveries a listing shows; `scope` is the reader's (None: every city and account)."""

    states: tuple[DeliveryState, ...] | None = None
    account: str | None = None
    message_id: str | None = None
    platform: Platform | None = None
    priority: Priority | None = None
    scope: Scope | None = None
    municipality: str | None = None


@dataclass(frozen=True)
class MessageQuery:
    """Which messages a listing shows. `text` is searched in the body, the title and the id;
    `since`/`until` bound `created_at` (until exclusive)."""

    municipality: str | None = None
    states: tuple[MessageState, ...] | None = None
    account: str | None = None
    category: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    scope: Scope | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Which audit events a listing shows. A scoped reader (`scope`) sees the events of the messages it may
    see, of the accounts in `accounts` (those it may see), and its own."""

    actor: str | None = None
    action: str | None = None
    message_id: str | None = None
    text: str | None = None  # searched in the reason, the detail and the delivery id
    scope: Scope | None = None
    accounts: tuple[str, ...] = ()
    reader: str | None = None


def _narrowed_cities(scope: Scope) -> dict[str, list[str]]:
    """city -> the accounts a scope narrows it to, for every city the scope narrows (as `Scope.covers_account`:
    an account belongs to a city when its id starts with the city's id and `_`)."""
    cities = scope.municipalities
    if cities is None:  # every city: any `_`-prefix of a named account may be its city
        cities = frozenset(a[:i] for a in scope.accounts for i, c in enumerate(a) if c == "_")
    narrowed = {city: sorted(a for a in scope.accounts if a.startswith(city + "_")) for city in cities}
    return {city: own for city, own in narrowed.items() if own}


def scope_clause(scope: Scope | None, municipality: Any, account: Any) -> sa.ColumnElement[bool]:
    """Rows of one account the scope covers (`Scope.covers_account`, in SQL)."""
    if scope is None:
        return sa.true()
    conditions: list[sa.ColumnElement[bool]] = []
    if scope.municipalities is not None:
        conditions.append(municipality.in_(sorted(scope.municipalities)))
    for city, own in _narrowed_cities(scope).items():
        conditions.append(sa.or_(municipality != city, account.in_(own)))
    return sa.and_(sa.true(), *conditions)


def delivery_filter(query: DeliveryQuery) -> sa.ColumnElement[bool]:
    c = deliveries.c
    conditions = [scope_clause(query.scope, c.municipality, c.account)]
    if query.states is not None:
        conditions.append(c.state.in_([s.value for s in query.states]))
    for column, value in ((c.account, query.account), (c.message_id, query.message_id),
                          (c.municipality, query.municipality),
                          (c.platform, query.platform.value if query.platform else None),
                          (c.priority, query.priority.value if query.priority else None)):
        if value is not None:
            conditions.append(column == value)
    return sa.and_(*conditions)


def deliveries_emergency_first(query: DeliveryQuery, *, limit: int, offset: int) -> sa.Select[Any]:
    """The console's order: emergencies on top, then the most recently changed."""
    emergency_last = sa.case((deliveries.c.priority == Priority.EMERGENCY.value, 0), else_=1)
    return (sa.select(deliveries).where(delivery_filter(query))
            .order_by(emergency_last, deliveries.c.updated_at.desc(), deliveries.c.id.desc())
            .limit(limit).offset(offset))


def deliveries_newest_first(query: DeliveryQuery, *, limit: int, after: Cursor | None) -> sa.Select[Any]:
    """The API's order (newest first) as keyset pages: rows after the cursor of the page before."""
    statement = sa.select(deliveries).where(delivery_filter(query))
    if after is not None:
        created, row_id = after
        statement = statement.where(sa.or_(deliveries.c.created_at < created,
                                           sa.and_(deliveries.c.created_at == created, deliveries.c.id < row_id)))
    return statement.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)


def delivery_time() -> sa.ColumnElement[Any]:
    """When a delivery goes or went out: sent, else its scheduled time (a 予約 or the city's hours), else
    when it was planned (it goes as soon as a worker takes it)."""
    c = deliveries.c
    return sa.func.coalesce(c.sent_at, c.not_before, c.created_at)


def deliveries_between(query: DeliveryQuery, start: datetime, end: datetime, *, limit: int) -> sa.Select[Any]:
    """The calendar's rows: deliveries whose time (`delivery_time`) is in [start, end), in time order."""
    when = delivery_time()
    return (sa.select(deliveries).where(delivery_filter(query), when >= start, when < end)
            .order_by(when, deliveries.c.id).limit(limit))


def count_of(table: sa.Table, condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(table).where(condition)


def _contains(column: Any, text: str) -> sa.ColumnElement[bool]:
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def _message_accounts_covered(dialect: str, own: Collection[str]) -> sa.ColumnElement[bool]:
    """Every target account of the message is one of `own` (a message with no target has none outside)."""
    elements = (sa.func.jsonb_array_elements_text if dialect == "postgresql" else sa.func.json_each)
    each = elements(messages.c.accounts).table_valued("value").alias("target")
    outside = sa.select(sa.literal(1)).select_from(each).where(each.c.value.not_in(sorted(own)))
    return ~sa.exists(outside)


def message_filter(query: MessageQuery, dialect: str) -> sa.ColumnElement[bool]:
    c = messages.c
    conditions: list[sa.ColumnElement[bool]] = [sa.true()]
    if query.scope is not None:
        if query.scope.municipalities is not None:
            conditions.append(c.municipality.in_(sorted(query.scope.municipalities)))
        for city, own in _narrowed_cities(query.scope).items():
            conditions.append(sa.or_(c.municipality != city, _message_accounts_covered(dialect, own)))
    if query.municipality is not None:
        conditions.append(c.municipality == query.municipality)
    if query.states is not None:
        conditions.append(c.state.in_([s.value for s in query.states]))
    if query.category is not None:
        conditions.append(c.body["category"].as_string() == query.category)
    if query.account is not None:
        conditions.append(_contains(sa.cast(c.accounts, sa.Text), f'"{query.account}"'))
    if query.text:
        conditions.append(sa.or_(_contains(c.body["text"].as_string(), query.text),
                                 _contains(c.body["title"].as_string(), query.text),
                                 c.id == query.text))
    if query.since is not None:
        conditions.append(c.created_at >= query.since)
    if query.until is not None:
        conditions.append(c.created_at < query.until)
    return sa.and_(*conditions)


def messages_newest_first(query: MessageQuery, dialect: str, *, limit: int, offset: int = 0,
                          after: Cursor | None = None) -> sa.Select[Any]:
    statement = sa.select(messages).where(message_filter(query, dialect))
    if after is not None:
        created, row_id = after
        statement = statement.where(sa.or_(messages.c.created_at < created,
                                           sa.and_(messages.c.created_at == created, messages.c.id < row_id)))
    return (statement.order_by(messages.c.created_at.desc(), messages.c.id.desc())
            .limit(limit).offset(offset))


def _detail_contains(dialect: str, text: str) -> sa.ColumnElement[bool]:
    """The detail's keys or values contain `text` (SQLite keeps JSON with escaped non-ASCII: read its atoms)."""
    if dialect == "postgresql":
        return _contains(sa.cast(audit_events.c.detail, sa.Text), text)
    tree = sa.func.json_tree(audit_events.c.detail).table_valued("key", "atom").alias("node")
    found = sa.select(sa.literal(1)).select_from(tree).where(sa.or_(
        _contains(sa.cast(tree.c.atom, sa.Text), text), _contains(sa.cast(tree.c.key, sa.Text), text)))
    return sa.exists(found)


def _audit_scope(query: AuditQuery, dialect: str) -> sa.ColumnElement[bool]:
    c = audit_events.c
    known = sa.select(messages.c.id).where(messages.c.id == c.message_id)
    visible = sa.select(messages.c.id).where(messages.c.id == c.message_id,
                                             message_filter(MessageQuery(scope=query.scope), dialect))
    account = c.detail["account"].as_string()
    by_account = sa.or_(account.in_(sorted(query.accounts)),
                        sa.and_(account.is_(None), c.actor == (query.reader or "")))
    return sa.or_(sa.exists(visible), sa.and_(~sa.exists(known), by_account))


def audit_filter(query: AuditQuery, dialect: str) -> sa.ColumnElement[bool]:
    c = audit_events.c
    conditions: list[sa.ColumnElement[bool]] = [sa.true()]
    for column, value in ((c.actor, query.actor), (c.action, query.action), (c.message_id, query.message_id)):
        if value:
            conditions.append(column == value)
    if query.text:
        conditions.append(sa.or_(_contains(c.reason, query.text), _detail_contains(dialect, query.text),
                                 _contains(c.delivery_id, query.text)))
    if query.scope is not None and not query.scope.is_global:
        conditions.append(_audit_scope(query, dialect))
    return sa.and_(*conditions)


def audit_newest_first(query: AuditQuery, dialect: str, *, limit: int | None, offset: int = 0) -> sa.Select[Any]:
    return (sa.select(audit_events).where(audit_filter(query, dialect))
            .order_by(audit_events.c.id.desc()).limit(limit).offset(offset))
