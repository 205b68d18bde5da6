"""`gateway alert [--dry-run] [--json] [--as-of TIME] [--municipality ID] FILE` and `gateway held ...`.

`--dry-run --json` prints the one-line object of DESIGN.md; without `--json`, the outcome, the reason
and each post for people (a held alert also shows what publishing it would post). `--as-of` judges
freshness at another time than now (an old document replayed in a drill or an investigation).
`gateway held` lists the alerts held for an operator, and publishes or dismisses one (audited).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from gateway.alerts import dry_run
from gateway.alerts.dryrun import DryRunResult
from gateway.cli.table import render_table
from gateway.errors import Conflict, FieldProblem, InputError
from gateway.models import Actor, Role, Scope
from gateway.policy import load_policies
from gateway.services.alerts import AlertIntake
from gateway.settings import Settings
from gateway.store.base import Store

EXIT_OK, EXIT_REJECTED = 0, 2
_OUTCOMES = {"accepted": "受付（掲載します）", "ignored": "掲載しません", "rejected": "拒否",
             "held": "要確認（運用担当者の判断待ち）"}


def _read(file: Path) -> bytes:
    if str(file) == "-":
        return sys.stdin.buffer.read()
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file}: 読み込めません: {exc.strerror}") from exc


def parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        message = f"--as-of は時差付きの日時で指定してください（例 2026-12-04T03:00:00+09:00）: {value!r}"
        raise InputError(message, [FieldProblem("--as-of", "bad_datetime", message)])
    return parsed


async def alert_command(settings: Settings, file: Path, *, dry_run: bool, municipality: str | None,
                        as_json: bool = True, as_of: str | None = None) -> int:
    raw = _read(file)
    if dry_run:
        return _dry_run(settings, raw, municipality, as_json=as_json, as_of=parse_as_of(as_of))
    return await _push(settings, raw, municipality)


def _dry_run(settings: Settings, raw: bytes, municipality: str | None, *, as_json: bool,
             as_of: datetime | None) -> int:
    result = dry_run(raw, load_policies(settings.config_dir), municipality=municipality, now=as_of)
    print(json.dumps(result.to_json(), ensure_ascii=False) if as_json else dry_run_text(result))
    return result.exit_code


def dry_run_text(result: DryRunResult) -> str:
    lines = [f"結果: {_OUTCOMES[result.outcome]}{'（訓練）' if result.drill else ''}", f"理由: {result.reason}"]
    for title, posts in (("掲載する投稿", result.posts), ("公開した場合に掲載する投稿", result.held_posts)):
        shown = [p for p in posts if p.skip_reason is None]
        if shown:
            lines.append(f"\n{title}:")
        for post in shown:
            where = f"{post.account} [{post.language}]{'（サンドボックスのみ）' if post.sandbox_only else ''}"
            lines.append(f"--- {where}\n{post.text}")
    return "\n".join(lines)


@asynccontextmanager
async def _intake(settings: Settings) -> AsyncIterator[tuple[AlertIntake, str]]:
    from gateway.runtime import open_runtime

    async with open_runtime(settings, start=False, offline=True) as runtime:
        yield AlertIntake(runtime.gateway, max_bytes=settings.max_body_bytes), f"cli:{getpass.getuser()}"


async def _host_actor(store: Store, name: str, role: Role) -> Actor:
    """Whoever runs these commands reaches the database directly, as its administrator does: every city.

    The name is registered once (audit rows name it); a later command in another role keeps the user as
    it is, never changing its role.
    """
    with contextlib.suppress(Conflict):
        await store.ensure_user(name, role, actor=name)
    return Actor(name, role, Scope.everywhere())


async def _push(settings: Settings, raw: bytes, municipality: str | None) -> int:
    """Record and plan the alert in the database; a running `serve` sends it."""
    async with _intake(settings) as (intake, name):
        actor = await _host_actor(intake.gateway.store, name, Role.ALERT_SYSTEM)
        result = await intake.receive(raw, actor, municipality=municipality)
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return EXIT_REJECTED if result.outcome == "rejected" else EXIT_OK


async def held_command(settings: Settings, action: str, held_id: str | None, *, note: str | None,
                       states: str) -> int:
    """`gateway held list|show|publish|dismiss`: the operator's side of held alerts."""
    async with _intake(settings) as (intake, name):
        store = intake.gateway.store
        if action == "list":
            entries = await intake.list_held(states=states.split(","), limit=200)
            rows = [[e.id, e.state, e.hold_code, e.received_at.isoformat(timespec="minutes"), e.kind or "-",
                     e.title[:30], ",".join(e.municipalities)] for e in entries]
            print(render_table(["id", "状態", "理由", "受信", "種別", "件名", "自治体"], rows) if rows
                  else "要確認の防災情報はありません")
            return EXIT_OK
        assert held_id is not None
        if action == "show":
            entry = await intake.held(held_id)
            print(f"{entry.id} {entry.state} {entry.hold_code}\n理由: {entry.reason}\n件名: {entry.title}"
                  f"（{entry.sender}、{entry.sent_at.isoformat()}）")
            for post in entry.posts:
                print(f"--- {post.get('municipality')} {post.get('account')}\n{post.get('text')}")
            return EXIT_OK
        actor = await _host_actor(store, name, Role.OPERATOR)
        if action == "publish":
            entry, result = await intake.publish_held(held_id, actor, note)
            print(json.dumps({"id": entry.id, "state": entry.state, **result.to_json()}, ensure_ascii=False))
            return EXIT_OK
        if not note:
            raise InputError("見送る理由を --note で指定してください", [FieldProblem("--note", "missing", "必須です")])
        entry = await intake.dismiss_held(held_id, actor, note)
        print(json.dumps({"id": entry.id, "state": entry.state, "note": entry.note}, ensure_ascii=False))
        return EXIT_OK
