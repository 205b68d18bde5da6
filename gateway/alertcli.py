"""`gateway alert [--dry-run] [--municipality ID] FILE`."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from gateway.alerts import dry_run
from gateway.errors import InputError
from gateway.models import Role
from gateway.policy import load_policies
from gateway.settings import Settings

EXIT_OK, EXIT_REJECTED = 0, 2


def _read(file: Path) -> bytes:
    if str(file) == "-":
        return sys.stdin.buffer.read()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: 読み込めません: {exc.strerror}") from exc


async def alert_command(settings: Settings, file: Path, *, dry_run: bool, municipality: str | None) -> int:
    raw = _read(file)
    if dry_run:
        return _dry_run(settings, raw, municipality)
    return await _push(settings, raw, municipality)


def _dry_run(settings: Settings, raw: bytes, municipality: str | None) -> int:
    result = dry_run(raw, load_policies(settings.config_dir), municipality=municipality)
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return result.exit_code


async def _push(settings: Settings, raw: bytes, municipality: str | None) -> int:
    """Record and plan the alert in the database; a running `serve` sends it."""
    from gateway.cli import _offline_adapters
    from gateway.pipeline.alerts import AlertIntake
    from gateway.runtime import open_runtime
    from gateway.service import Actor

    async with open_runtime(settings, start=False, adapters=_offline_adapters()) as runtime:
        name = f"cli:{getpass.getuser()}"
        await runtime.store.ensure_user(name, Role.ALERT_SYSTEM, actor=name)
        intake = AlertIntake(runtime.gateway, max_bytes=settings.max_body_bytes)
        result = await intake.receive(raw, Actor(name, Role.ALERT_SYSTEM), municipality=municipality)
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return EXIT_REJECTED if result.outcome == "rejected" else EXIT_OK
