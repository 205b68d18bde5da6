"""Read the gateway's audit trail straight from the database (the test's own view, not the API's)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def _engine(database_url: str) -> sa.Engine:
    """A synchronous engine on drivers this venv has (psycopg2, sqlite3), whatever the URL names."""
    url = make_url(database_url)
    driver = "postgresql+psycopg2" if url.get_backend_name() == "postgresql" else "sqlite"
    return sa.create_engine(url.set(drivername=driver), poolclass=sa.pool.NullPool)


def claims_by_delivery(database_url: str) -> dict[str, list[datetime]]:
    """delivery id -> the times it was claimed for a publish attempt, in order."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT delivery_id, at FROM audit_events WHERE action = 'delivery.claimed' ORDER BY id"))
            out: dict[str, list[datetime]] = defaultdict(list)
            for delivery_id, at in rows:
                out[delivery_id].append(at if isinstance(at, datetime) else datetime.fromisoformat(at))
            return dict(out)
    finally:
        engine.dispose()


def transitions(database_url: str, to_state: str) -> list[tuple[str, str, str]]:
    """(delivery id, from state, reason) of every move into `to_state`."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT delivery_id, from_state, reason FROM audit_events WHERE to_state = :s ORDER BY id"),
                {"s": to_state})
            return [(str(a), str(b), str(c)) for a, b, c in rows]
    finally:
        engine.dispose()


def _moment(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def pauses(database_url: str, account: str) -> list[tuple[datetime, datetime]]:
    """(when the gateway learnt of the limit, until) of every pause of the account (naive UTC)."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT at, detail FROM audit_events WHERE action = 'account.paused' "
                                        "ORDER BY id")).all()
    finally:
        engine.dispose()
    out = []
    for at, detail in rows:
        data = detail if isinstance(detail, dict) else json.loads(detail)
        if data.get("account") == account:
            out.append((_moment(at), _moment(data["until"])))
    return out


def attempts(database_url: str, account: str) -> list[tuple[datetime, str, str]]:
    """(claimed at, what followed: state, reason) of every claim of the account's deliveries (naive UTC)."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT a.delivery_id, a.action, a.at, a.to_state, a.reason FROM audit_events a "
                "JOIN deliveries d ON d.id = a.delivery_id WHERE d.account = :a ORDER BY a.id"), {"a": account}).all()
    finally:
        engine.dispose()
    claimed: dict[str, datetime] = {}
    out = []
    for delivery_id, action, at, to_state, reason in rows:
        if action == "delivery.claimed":
            claimed[delivery_id] = _moment(at)
        elif delivery_id in claimed:
            out.append((claimed.pop(delivery_id), str(to_state), str(reason or "")))
    return out
