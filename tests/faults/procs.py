"""Real processes for the fault tests: the sandbox platforms and `gateway serve`, killed with SIGKILL.

The sandbox runs as its own long-lived process so that what was "published" survives every
gateway kill; the gateway runs in `--platforms live` mode pointed at it, exactly as in production.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from gateway.models import Platform
from gateway.sandbox.credentials import sandbox_credentials

ROOT = Path(__file__).resolve().parents[2]
CITIES = ("atsugi", "kisarazu", "kodaira", "mine", "zushi")
CITY_ARGS = [arg for city in CITIES for arg in ("--municipality", city)]
# The fault tests' staff submit emergencies: they hold every city's emergency permission.
EMERGENCY_ARGS = [arg for city in CITIES for arg in ("--emergency", city)]
GATEWAY_BIN = str(Path(sys.executable).with_name("gateway"))
ACCOUNTS: Mapping[str, Platform] = {
    "mine_x": Platform.X, "mine_facebook": Platform.FACEBOOK,
    "kisarazu_x": Platform.X, "kisarazu_facebook": Platform.FACEBOOK, "kisarazu_line": Platform.LINE,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


def _base_env() -> dict[str, str]:
    # No stray GATEWAY_* settings from the developer's shell may change what is being tested.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_SETTINGS_FILE"] = "/nonexistent/gateway.toml"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A subprocess whose output goes to a log file (read back when a test fails)."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, dict(env), log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self.proc

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Sandbox(Proc):
    def __init__(self, tmp: Path, port: int | None = None, *, latency_ms: float = 0.0,
                 config_dir: Path | None = None) -> None:
        self.port = port or free_port()
        env = _base_env()
        if config_dir is not None:
            env["GATEWAY_CONFIG_DIR"] = str(config_dir)
        super().__init__([GATEWAY_BIN, "sandbox", "--port", str(self.port), "--latency-ms", str(latency_ms)], env,
                         tmp / "sandbox.log")
        self.url = f"http://127.0.0.1:{self.port}"

    def up(self) -> Sandbox:
        self.start()
        wait_http(f"{self.url}/_sandbox/faults", 20, self.proc)
        return self

    def posts(self) -> list[dict[str, Any]]:
        body: dict[str, Any] = requests.get(f"{self.url}/_sandbox/posts", timeout=10).json()
        return [p for p in body["posts"] if not p["deleted"]]

    def requests(self, platform: Platform | None = None) -> list[dict[str, Any]]:
        params = {"platform": platform.value} if platform else {}
        rows: list[dict[str, Any]] = requests.get(f"{self.url}/_sandbox/requests", params=params,
                                                  timeout=10).json()["requests"]
        return rows

    def fault(self, **fault: Any) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sandbox/faults", timeout=10).raise_for_status()


def gateway_env(database_url: str, sandbox_url: str, settings: Mapping[str, float | str] | None = None,
                accounts: Iterable[str] = ACCOUNTS) -> dict[str, str]:
    """`serve --platforms live` against the sandbox, with the sandbox's credentials in the environment."""
    env = _base_env()
    env["GATEWAY_DATABASE_URL"] = database_url
    for name in ("X", "LINE", "FACEBOOK", "YOUTUBE"):
        env[f"GATEWAY_{name}__BASE_URL"] = sandbox_url
        env[f"GATEWAY_{name}__TIMEOUT_S"] = "2"
    for account in accounts:
        for field, secret in sandbox_credentials(account, ACCOUNTS[account]).items():
            env[f"GATEWAY_ACCOUNT_CREDENTIALS__{account.upper()}__{field.upper()}"] = secret
    defaults: dict[str, float | str] = {
        "LEASE_SECONDS": 3, "POLL_SECONDS": 0.2, "RECONCILE_AFTER_SECONDS": 1, "BACKOFF_BASE_SECONDS": 0.2,
        "BACKOFF_MAX_SECONDS": 2, "MAX_ATTEMPTS": 30, "LOG_LEVEL": "WARNING",
    }
    for key, value in {**defaults, **(settings or {})}.items():
        env[f"GATEWAY_{key}"] = str(value)
    return env


class Gateway(Proc):
    """`gateway serve`; `restart()` brings it back on the same port and database after a kill."""

    def __init__(self, tmp: Path, env: Mapping[str, str], name: str = "gateway") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [GATEWAY_BIN, "serve", "--platforms", "live", "--port", str(self.port)]
        super().__init__(args, env, tmp / f"{name}.log")
        self.kills = 0

    def up(self, timeout_s: float = 60) -> Gateway:
        self.start()
        try:
            wait_http(f"{self.url}/healthz", timeout_s, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- {self.log.name} ---\n{self.tail()}") from exc
        return self

    def restart(self) -> None:
        self.kill9()
        self.up()

    def token(self, user: str, role: str) -> str:
        cities = [] if role in ("admin", "alert_system") else CITY_ARGS
        if role == "staff":
            subprocess.run([GATEWAY_BIN, "user", "create", "--user", user, "--role", role, *cities, *EMERGENCY_ARGS],
                           env=self.env, cwd=ROOT, input="fault staff password\n", capture_output=True, text=True,
                           timeout=60, check=False)  # exists already after a restart: the token is enough
        out = subprocess.run([GATEWAY_BIN, "token", "create", "--user", user, "--role", role, *cities],
                             env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, f"token create failed: {out.stderr[-2000:]}"
        match = re.search(r"\S+", out.stdout.strip().splitlines()[-1])
        assert match is not None, out.stdout
        return match.group(0)
