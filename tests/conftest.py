"""Shared fixtures: real databases (SQLite file, PostgreSQL scratch database) and an upgraded store.

`database_url` runs each test on both databases. PostgreSQL comes from GATEWAY_TEST_PG_URL
(default postgresql://postgres@127.0.0.1:5432/postgres); when it is unreachable the
PostgreSQL variants are skipped, or fail when GATEWAY_REQUIRE_PG=1.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql as pgsql
from sqlalchemy.engine import make_url

from gateway.store import SqlStore, open_store, upgrade_async

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Tests that take minutes start first, so that with `-n 2` one worker runs them while the other works through
# the rest, instead of one of them starting near the end and keeping the run waiting.
SLOW_FIRST = ("test_retraining_reproduces_the_committed_file",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.originalname not in SLOW_FIRST)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return os.environ.get("GATEWAY_TEST_PG_URL", DEFAULT_PG_URL)


def _libpq_dsn(url: str) -> str:
    """psycopg2 wants plain `postgresql://`, without a SQLAlchemy driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def _pg_unreachable_reason(admin_url: str) -> str | None:
    try:
        psycopg2.connect(_libpq_dsn(admin_url), connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL unreachable at {make_url(admin_url).render_as_string()}: {exc}".strip()
    return None


def _require_pg(admin_url: str) -> None:
    reason = _pg_unreachable_reason(admin_url)
    if reason is None:
        return
    if os.environ.get("GATEWAY_REQUIRE_PG") == "1":
        pytest.fail(f"GATEWAY_REQUIRE_PG=1 but {reason}")
    pytest.skip(reason)


def _admin_execute(admin_url: str, statement: pgsql.Composable) -> None:
    conn = psycopg2.connect(_libpq_dsn(admin_url), connect_timeout=5)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def postgres_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    _require_pg(pg_admin_url)
    name = f"gw_test_{secrets.token_hex(6)}"
    _admin_execute(pg_admin_url, pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin_execute(pg_admin_url, pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            pgsql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file (not yet created) under the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind; run `upgrade_async` (or use `store`) before using it."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """An upgraded database of each kind, opened as a SqlStore."""
    await upgrade_async(database_url)
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Put the root logger back after a test that runs the CLI (whose `main` configures logging)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# -- CI guard: a run that silently skipped PostgreSQL must fail --------------------------------------

_postgres_ran: list[str] = []
_postgres_seen: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under pytest-xdist the controller receives every worker's reports here, so the guard below
    # works the same with `-n 2` as without.
    if "postgresql" not in report.nodeid:
        return
    if report.when == "setup" or report.when == "call":
        _postgres_seen.append(report.nodeid)
    if report.when == "call" and report.passed:
        _postgres_ran.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under GATEWAY_REQUIRE_PG=1 (CI), fail the run if no PostgreSQL test passed."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller sees all reports and decides
    if os.environ.get("GATEWAY_REQUIRE_PG") == "1" and _postgres_seen and not _postgres_ran:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nGATEWAY_REQUIRE_PG=1 but no PostgreSQL test ran: failing the run", flush=True)
