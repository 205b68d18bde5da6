"""The ledger and the secrets on disk are the gateway user's alone: 0600 files in a 0700 var directory.

Run under umask 022, with which the files used to come out world-readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import cli
from gateway.credentials import new_key
from gateway.models import Platform, Role, Scope
from gateway.sandbox.credentials import sandbox_credentials
from gateway.store import open_store, upgrade_async

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(var: Path) -> Iterator[None]:
    """`gateway serve` on SQLite under `var`, from its banner until SIGTERM; its stderr goes to stderr.log
    beside `var`."""
    env = {**os.environ, "GATEWAY_VAR_DIR": str(var), "GATEWAY_DATABASE_URL": f"sqlite:///{var}/gateway.db",
           "GATEWAY_CREDENTIALS_FILE": str(var / "credentials.enc"), "GATEWAY_PORT": str(_free_port()),
           "GATEWAY_SETTINGS_FILE": str(var / "none.toml")}
    if (var / "key").exists():
        env["GATEWAY_CREDENTIALS_KEY_FILE"] = str(var / "key")
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: os.umask(0o022))
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("koho-gateway:"), banner + (process.stderr.read() if process.stderr else "")
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        (var.parent / "stderr.log").write_text(err)


def test_serve_creates_the_var_directory_database_and_session_key_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    with serving(var):
        assert mode(var) == 0o700
        assert mode(var / "gateway.db") == 0o600
        assert mode(var / "session.key") == 0o600
        for extra in ("gateway.db-wal", "gateway.db-shm"):
            if (var / extra).exists():
                assert mode(var / extra) == 0o600, extra


def test_serve_tightens_existing_files_with_a_warning(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "session.key").write_text(os.urandom(32).hex())
    (var / "credentials.enc").write_bytes(b"not read at start")
    (var / "key").write_text(new_key())
    db = var / "gateway.db"
    db.touch()
    for path in (var, *var.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    with serving(var):
        assert mode(var) == 0o700
        for name in ("session.key", "credentials.enc", "key", "gateway.db"):
            assert mode(var / name) == 0o600, name
    warnings = [json.loads(line) for line in (tmp_path / "stderr.log").read_text().splitlines()
                if "permissions tightened" in line]
    assert {Path(w["path"]).name for w in warnings} >= {"var", "session.key", "credentials.enc", "key", "gateway.db"}
    assert all(w["level"] == "warning" for w in warnings)


@pytest.mark.usefixtures("keep_logging")
def test_credentials_set_creates_its_files_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    var = tmp_path / "secrets"
    monkeypatch.setenv("GATEWAY_CREDENTIALS_FILE", str(var / "credentials.enc"))
    monkeypatch.setenv("GATEWAY_CREDENTIALS_KEY", new_key())
    fields = tmp_path / "x.json"
    fields.write_text(json.dumps(sandbox_credentials("kodaira_x", Platform.X)))
    assert cli.main(["--config-dir", str(ROOT / "config" / "municipalities"), "credentials", "set", "kodaira_x",
                     str(fields)]) == 0
    assert mode(var) == 0o700
    assert mode(var / "credentials.enc") == 0o600
    assert mode(var / "credentials.enc.lock") == 0o600


@pytest.mark.usefixtures("keep_logging")
def test_a_key_file_readable_by_others_is_tightened_on_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "credentials.key"
    key.write_text(new_key())
    key.chmod(0o644)
    monkeypatch.setenv("GATEWAY_CREDENTIALS_FILE", str(tmp_path / "credentials.enc"))
    monkeypatch.setenv("GATEWAY_CREDENTIALS_KEY_FILE", str(key))
    assert cli.main(["credentials", "list"]) == 0
    assert mode(key) == 0o600


async def test_first_use_creates_the_database_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "gateway.db"
    url = f"sqlite:///{path}"
    await upgrade_async(url)
    store = await open_store(url)
    try:
        await store.ensure_user("sato", Role.STAFF, actor="test", scope=Scope.of("kodaira"))
        assert mode(path.parent) == 0o700
        for name in ("gateway.db", "gateway.db-wal", "gateway.db-shm"):
            assert mode(path.parent / name) == 0o600, name
    finally:
        await store.aclose()
