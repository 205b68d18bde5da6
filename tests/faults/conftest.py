"""Fixtures for the fault tests: a sandbox process and gateway processes, always killed at the end."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.client import Client
from tests.faults.procs import CITY_ARGS, ROOT, Gateway, Sandbox, gateway_env


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    try:
        yield box.up()
    finally:
        box.kill9()


Launch = Callable[..., Gateway]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """launch(database_url, sandbox_url, **settings) -> a running `gateway serve`; killed at teardown."""
    started: list[Gateway] = []

    def start(database_url: str, sandbox_url: str, name: str = "gateway", **settings: float | str) -> Gateway:
        gateway = Gateway(tmp_path, gateway_env(database_url, sandbox_url, settings), name=name)
        started.append(gateway)
        return gateway.up()

    try:
        yield start
    finally:
        for gateway in started:
            gateway.kill9()


def make_client(gateway: Gateway, url: Callable[[], str] | None = None) -> Client:
    """Users for the three roles the tests act as; the first token migrates the database."""
    staff = gateway.token("fault_staff", "staff")
    rest = {role: subprocess.Popen([gateway.args[0], "token", "create", "--user", f"fault_{role}", "--role", role,
                                    *CITY_ARGS], env=gateway.env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            for role in ("approver", "operator")}
    tokens = {}
    for role, proc in rest.items():
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"token create {role} failed"
        tokens[role] = out.strip().splitlines()[-1].split()[0]
    return Client(url or (lambda: gateway.url), staff, tokens["approver"], tokens["operator"])
