"""The `gateway` console script (contracts in DESIGN.md)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from gateway.errors import Conflict, Forbidden, GatewayError, InputError, NotFound, PolicyViolation
from gateway.models import Role
from gateway.settings import Settings, settings_error

EXIT_OK, EXIT_ERROR, EXIT_INPUT = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for key in ("database_url", "port", "host", "platforms", "config_dir"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:  # one clear line per value, naming the variable, not a traceback
        raise settings_error(exc) from None


def _print_json(value: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(value, ensure_ascii=False) + "\n")


def _report(exc: GatewayError) -> int:
    sys.stderr.write(f"エラー: {exc.message}\n")
    for problem in getattr(exc, "problems", ()):
        sys.stderr.write(f"  - {problem.field}: {problem.message} [{problem.code}]\n")
    for finding in getattr(exc, "findings", ()):
        sys.stderr.write(f"  - [{finding.severity.value}] {finding.rule}: {finding.message}（{finding.clause}）\n")
    return EXIT_INPUT if isinstance(exc, InputError | PolicyViolation) else EXIT_ERROR


# -- commands -------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.cli.serve import serve

    return asyncio.run(serve(_settings(args)))


def cmd_sandbox(args: argparse.Namespace) -> int:
    from gateway.cli.serve import serve_sandbox

    return asyncio.run(serve_sandbox(_settings(args), host=args.host or "127.0.0.1", port=args.port or 8090,
                                     latency_s=args.latency_ms / 1000))


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.cli.demo import run_demo

    return asyncio.run(run_demo(_settings(args)))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.store import upgrade
    from gateway.store.engine import redacted

    settings = _settings(args)
    upgrade(settings.database_url)
    print(f"データベースを最新の版にしました: {redacted(settings.database_url)}")
    return EXIT_OK


def _policies(settings: Settings) -> Any:
    from gateway.policy import load_policies

    return load_policies(settings.config_dir)


def cmd_token_create(args: argparse.Namespace) -> int:
    from gateway.services.users import scope_from
    from gateway.web.auth import create_token

    async def run(store: Any, settings: Settings) -> int:
        role = Role(args.role)
        scope_from(_policies(settings), role, municipalities=args.municipality)  # names checked, nothing stored
        token = await create_token(store, user=args.user, role=role, ttl_days=args.ttl_days,
                                   now=datetime.now(UTC), actor=_cli_actor(), municipalities=args.municipality)
        print(token)
        return EXIT_OK

    return _with_store(args, run)


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_user(args: argparse.Namespace) -> int:
    """`user create` and `user set-password`: both read a password."""
    from gateway.services import users

    async def run(store: Any, settings: Settings) -> int:
        if args.user_command == "create":
            role = Role(args.role)
            scope = users.scope_from(_policies(settings), role, municipalities=args.municipality,
                                     accounts=args.account, emergency=args.emergency)
            if await store.get_user(args.user) is not None:  # refused before asking for a password
                raise Conflict(f"利用者 {args.user} はすでに登録されています（何も変更していません）。"
                               "役割は user set-role、範囲は user set-scope、"
                               "パスワードは user set-password で変更してください",
                               code="user_exists")
            await users.create_user(store, name=args.user, role=role, password=users.read_password(),
                                    actor=_cli_actor(), scope=scope)
            print(f"利用者 {args.user}（{args.role}、担当: {scope.label()}）を作成し、パスワードを設定しました")
        else:
            await users.set_password(store, name=args.user, password=users.read_password(), actor=_cli_actor())
            print(f"利用者 {args.user} のパスワードを設定しました（以前のログインは無効になります）")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_set_role(args: argparse.Namespace) -> int:
    from gateway.services import users

    async def run(store: Any, settings: Settings) -> int:
        user = await users.set_role(store, name=args.user, role=Role(args.role), actor=_cli_actor())
        print(f"利用者 {user.name} の役割を {user.role.value} にしました（ログイン中の画面は再ログインが必要です）")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_set_scope(args: argparse.Namespace) -> int:
    from gateway.services import users

    async def run(store: Any, settings: Settings) -> int:
        current = await store.get_user(args.user)
        if current is None:
            raise NotFound(f"利用者が見つかりません: {args.user}")
        scope = users.scope_from(_policies(settings), current.role, municipalities=args.municipality,
                                 accounts=args.account, emergency=args.emergency)
        user = await users.set_scope(store, name=args.user, scope=scope, actor=_cli_actor())
        print(f"利用者 {user.name} の担当範囲を「{user.scope.label()}」にしました")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_set_email(args: argparse.Namespace) -> int:
    from gateway.services import users

    async def run(store: Any, settings: Settings) -> int:
        user = await users.set_email(store, name=args.user, email=args.email, actor=_cli_actor())
        print(f"利用者 {user.name} のメールアドレスを{'「' + user.email + '」に' if user.email else '削除'}しました")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_access(args: argparse.Namespace) -> int:
    """`user disable|enable|sign-out`: end what a user can do now."""
    from gateway.services import users

    async def run(store: Any, settings: Settings) -> int:
        if args.user_command == "sign-out":
            revoked = await users.sign_out_everywhere(store, name=args.user, actor=_cli_actor())
            print(f"利用者 {args.user} のすべてのログインを終了し、トークン {revoked} 件を失効させました")
        else:
            disabled = args.user_command == "disable"
            await users.disable(store, name=args.user, actor=_cli_actor(), disabled=disabled)
            print(f"利用者 {args.user} を{'無効' if disabled else '有効'}にしました")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_list(args: argparse.Namespace) -> int:
    from gateway.cli.table import render_table

    async def run(store: Any, settings: Settings) -> int:
        rows = [[u.name, u.role.value, u.scope.label(), u.email or "-", "無効" if u.disabled else "有効"]
                for u in await store.list_users()]
        print(render_table(["利用者", "役割", "担当範囲", "メール", "状態"], rows) if rows else "利用者はいません")
        return EXIT_OK

    return _with_store(args, run)


def cmd_user_unlock(args: argparse.Namespace) -> int:
    """Clear a console sign-in lockout: a user's failures, or everything from one address."""
    if not args.user and not args.address:
        raise InputError("--user NAME か --address ADDRESS を指定してください")
    actor = f"cli:{getpass.getuser()}"

    async def run(store: Any, settings: Settings) -> int:
        cleared = await store.unlock_logins(actor=actor, user=args.user, address=args.address)
        print(f"{_unlock_target(args.user, args.address)} のログイン制限を解除しました（失敗の記録 {cleared} 件）")
        if not args.address:
            print("  同じアドレスからの失敗が多すぎて制限されている場合は --address ADDRESS で解除してください")
        return EXIT_OK

    return _with_store(args, run)


def _unlock_target(user: str | None, address: str | None) -> str:
    if user and address:
        return f"アドレス {address} からの利用者 {user}"
    return f"利用者 {user}" if user else f"アドレス {address}"


def cmd_check(args: argparse.Namespace) -> int:
    from gateway.cli.check import check_command

    files = args.file or ["-"]
    if args.evaluate:
        from gateway.cli.check import evaluate_command

        return evaluate_command(files, config_dir=_settings(args).config_dir)
    if len(files) > 1:
        sys.stderr.write("check: FILE は1つだけ指定できます（--evaluate では複数可）\n")
        return 2
    try:
        today = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        sys.stderr.write(f"check: --as-of は YYYY-MM-DD の形で指定してください（「{args.as_of}」）\n")
        return 2
    return check_command(files[0], jsonl=args.jsonl, evaluate=False, config_dir=_settings(args).config_dir,
                         today=today)


def cmd_alert(args: argparse.Namespace) -> int:
    from gateway.cli.alert import alert_command

    return asyncio.run(alert_command(_settings(args), Path(args.file), dry_run=args.dry_run,
                                     municipality=args.municipality, as_json=args.json or not args.dry_run,
                                     as_of=args.as_of))


def cmd_held(args: argparse.Namespace) -> int:
    from gateway.cli.alert import held_command

    return asyncio.run(held_command(_settings(args), args.held_command, getattr(args, "id", None),
                                    note=getattr(args, "note", None), states=getattr(args, "state", "held")))


def cmd_submit(args: argparse.Namespace) -> int:
    from gateway.pipeline.intake.validation import parse_message_json

    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    message = parse_message_json(raw, where=args.file)

    async def run(runtime: Any, actor: Any) -> int:
        submitted = await runtime.gateway.submit(message, actor, source="cli", idempotency_key=args.idempotency_key)
        record = submitted.record
        print(f"{record.id}\t{record.state.value}\t{submitted.approval_reason}")
        for finding in record.check.findings:
            print(f"  [{finding.severity.value}] {finding.rule}: {finding.message}（{finding.clause}）")
        return EXIT_OK

    return _with_runtime(args, run)


def cmd_approve(args: argparse.Namespace) -> int:
    overrides = dict(_split_override(o) for o in args.override or [])

    async def run(runtime: Any, actor: Any) -> int:
        submitted = await runtime.gateway.approve(args.id, actor, overrides, official_view=args.official_view)
        print(f"{submitted.record.id}\t{submitted.record.state.value}\t配信 {len(submitted.deliveries)} 件"
              f"\t{submitted.approval_reason}")
        return EXIT_OK

    return _with_runtime(args, run)


def cmd_reject(args: argparse.Namespace) -> int:
    async def run(runtime: Any, actor: Any) -> int:
        record = await runtime.gateway.reject(args.id, actor, args.comment)
        print(f"{record.id}\t{record.state.value}")
        return EXIT_OK

    return _with_runtime(args, run)


def _split_override(text: str) -> tuple[str, str]:
    rule, sep, reason = text.partition("=")
    if not sep or not rule.strip():
        raise InputError(f"--override は RULE=理由 の形で指定してください: {text}")
    return rule.strip(), reason


def cmd_status(args: argparse.Namespace) -> int:
    from gateway.cli.table import delivery_table

    async def run(store: Any, settings: Settings) -> int:
        if args.id:
            record = await store.get_message(args.id)
            print(f"{record.id}  {record.municipality}  {record.state.value}  提出: {record.submitted_by}"
                  f"  承認: {record.approved_by or '-'}")
            deliveries = await store.list_deliveries(message_id=record.id)
        else:
            deliveries = await store.list_deliveries(limit=args.limit)
        print(delivery_table(deliveries))
        return EXIT_OK

    return _with_store(args, run)


def cmd_accounts(args: argparse.Namespace) -> int:
    from gateway.cli.table import accounts_table

    async def run(store: Any, settings: Settings) -> int:
        from gateway.policy import load_policies

        policies = load_policies(settings.config_dir)
        print(accounts_table(policies, await store.last_sent(), _credential_rows(settings),
                             await store.stopped_accounts()))
        return EXIT_OK

    return _with_store(args, run)


def _credential_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    if settings.credentials_key is None and settings.credentials_key_file is None:
        return {}
    if not settings.credentials_file.exists():
        return {}
    from gateway.credentials import EncryptedCredentialFile, keys_from

    rows = EncryptedCredentialFile(settings.credentials_file, keys_from(settings)).list_masked()
    return {str(row["account"]): row for row in rows}


def cmd_credentials_set(args: argparse.Namespace) -> int:
    from gateway.credentials import EncryptedCredentialFile, keys_from, validate_fields
    from gateway.policy import load_policies

    settings = _settings(args)
    found = load_policies(settings.config_dir).account(args.account)
    if found is None:
        raise InputError(f"不明なアカウントです: {args.account}")
    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        fields = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{args.file}: JSONとして読めません（{exc.lineno}行 {exc.colno}文字目）") from exc
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise InputError(f"{args.file}: 文字列の値だけを持つJSONオブジェクトにしてください")
    validate_fields(found[1].platform, fields)
    store = EncryptedCredentialFile(settings.credentials_file, keys_from(settings))
    store.set(args.account, fields, actor=getpass.getuser(), reason=args.reason)
    print(f"{args.account}: 認証情報を保存しました（暗号化済み）")
    return EXIT_OK


def cmd_credentials_list(args: argparse.Namespace) -> int:
    from gateway.credentials import EncryptedCredentialFile, keys_from

    settings = _settings(args)
    for row in EncryptedCredentialFile(settings.credentials_file, keys_from(settings)).list_masked():
        _print_json(row)
    return EXIT_OK


# -- plumbing -------------------------------------------------------------------------------------

def _with_store(args: argparse.Namespace, body: Callable[[Any, Settings], Coroutine[Any, Any, int]]) -> int:
    from gateway.store import open_store, upgrade_async

    async def run() -> int:
        settings = _settings(args)
        await upgrade_async(settings.database_url)
        store = await open_store(settings.database_url)
        try:
            return await body(store, settings)
        finally:
            await store.aclose()

    return asyncio.run(run())


def _with_runtime(args: argparse.Namespace, body: Callable[[Any, Any], Coroutine[Any, Any, int]]) -> int:
    """Run against the database without workers: a running `serve` picks the work up."""
    from gateway.models import Actor
    from gateway.runtime import open_runtime

    async def run() -> int:
        settings = _settings(args)
        async with open_runtime(settings, start=False, offline=True) as runtime:
            name = args.as_user or getpass.getuser()
            user = await runtime.store.get_user(name)
            if user is None:
                raise InputError(f"ユーザー {name} は登録されていません（gateway token create --user {name} "
                                 "--role ROLE で作成してください）")
            if user.disabled:
                raise Forbidden(f"ユーザー {name} は無効にされています")
            try:
                return await body(runtime, Actor(user.name, user.role, user.scope))
            except Forbidden as exc:  # refusals are kept, as the API and the console keep theirs
                await runtime.store.audit(actor=user.name, action="access.denied", reason=exc.message[:2000],
                                          detail={"command": args.command, "code": exc.code})
                raise

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="koho-gateway: 自治体SNS配信ゲートウェイ")
    parser.add_argument("--database-url", default=None, help="SQLite or PostgreSQL URL (GATEWAY_DATABASE_URL)")
    parser.add_argument("--config-dir", default=None, type=Path, help="municipality TOML directory")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="HTTP API + workers")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--host", default=None)
    serve.add_argument("--database-url", default=argparse.SUPPRESS)
    serve.add_argument("--platforms", choices=["sandbox", "live"], default=None)
    serve.set_defaults(func=cmd_serve)

    sandbox = sub.add_parser("sandbox", help="only the sandbox platform servers")
    sandbox.add_argument("--port", type=int, default=None)
    sandbox.add_argument("--host", default=None)
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="delay every platform request (tests)")
    sandbox.set_defaults(func=cmd_sandbox)

    sub.add_parser("demo", help="scripted end-to-end run against the sandbox").set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="print a new API token")
    create.add_argument("--user", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--ttl-days", type=int, default=365)
    _add_scope_arguments(create, accounts=False)
    create.set_defaults(func=cmd_token_create)

    _add_user_commands(sub)
    _add_tool_commands(sub)
    _add_message_commands(sub)
    _add_credentials_commands(sub)
    return parser


def _add_scope_arguments(parser: argparse.ArgumentParser, *, accounts: bool = True) -> None:
    parser.add_argument("--municipality", action="append", default=[], metavar="ID",
                        help="a city the user acts for (repeat; required except for admin and alert_system)")
    if accounts:
        parser.add_argument("--account", action="append", default=[], metavar="ID",
                            help="limit to these accounts of those cities (repeat; default: all their accounts)")
        parser.add_argument("--emergency", action="append", default=[], metavar="ID",
                            help="may send priority=emergency for this city (repeat; e.g. 危機管理課)")


def _add_user_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="console users (password from a prompt or stdin, never argv)")
    usub = user.add_subparsers(dest="user_command", required=True)
    ucreate = usub.add_parser("create", help="create a console user and set the password (refuses an existing name)")
    ucreate.add_argument("--user", required=True)
    ucreate.add_argument("--role", required=True, choices=[r.value for r in Role])
    _add_scope_arguments(ucreate)
    ucreate.set_defaults(func=cmd_user)
    uset = usub.add_parser("set-password", help="set a console user's password")
    uset.add_argument("--user", required=True)
    uset.set_defaults(func=cmd_user)
    urole = usub.add_parser("set-role", help="change a user's role")
    urole.add_argument("--user", required=True)
    urole.add_argument("--role", required=True, choices=[r.value for r in Role])
    urole.set_defaults(func=cmd_user_set_role)
    uscope = usub.add_parser("set-scope", help="change the cities (accounts, emergency permission) a user acts for")
    uscope.add_argument("--user", required=True)
    _add_scope_arguments(uscope)
    uscope.set_defaults(func=cmd_user_set_scope)
    uemail = usub.add_parser("set-email", help="set where notifications reach a user (empty: remove)")
    uemail.add_argument("--user", required=True)
    uemail.add_argument("--email", required=True)
    uemail.set_defaults(func=cmd_user_set_email)
    for name, text in (("disable", "disable a user: sessions end, tokens stop working"),
                       ("enable", "enable a disabled user again"),
                       ("sign-out", "end every console session of a user and revoke every token")):
        one = usub.add_parser(name, help=text)
        one.add_argument("--user", required=True)
        one.set_defaults(func=cmd_user_access)
    usub.add_parser("list", help="users, roles and scopes").set_defaults(func=cmd_user_list)
    uunlock = usub.add_parser("unlock", help="clear a console sign-in lockout (failed passwords)")
    uunlock.add_argument("--user", default=None, help="the user's failures, from every address")
    uunlock.add_argument("--address", default=None, help="every attempt from this client address")
    uunlock.set_defaults(func=cmd_user_unlock)


def _add_tool_commands(sub: Any) -> None:
    check = sub.add_parser("check", help="outbound policy checks only")
    check.add_argument("--jsonl", action="store_true", help="one message JSON per line in, one result per line out")
    check.add_argument("--evaluate", action="store_true",
                       help="FILE... are labelled corpora (or directories of them): figures per set")
    check.add_argument("--as-of", default=None,
                       help="the writer's day (YYYY-MM-DD) that a date without its year is read against "
                            "(without it such dates are not judged)")
    check.add_argument("file", nargs="*")
    check.set_defaults(func=cmd_check)

    alert = sub.add_parser("alert", help="push an alert file (JMA XML, L-Alert, CAP, JSON)")
    alert.add_argument("--dry-run", action="store_true")
    alert.add_argument("--json", action="store_true", help="with --dry-run: one JSON line (default: for people)")
    alert.add_argument("--municipality", default=None, help="narrow to a municipality the alert addresses")
    alert.add_argument("--as-of", default=None, help="with --dry-run: judge freshness at this time (ISO 8601)")
    alert.add_argument("file")
    alert.set_defaults(func=cmd_alert)

    held = sub.add_parser("held", help="alerts held for an operator (too old, expired, restricted)")
    hsub = held.add_subparsers(dest="held_command", required=True)
    hlist = hsub.add_parser("list", help="held and restricted alerts")
    hlist.add_argument("--state", default="held,restricted", help="held,restricted,published,dismissed")
    for name, text in (("show", "one held alert and what publishing it would post"),
                       ("publish", "post a held alert (audited)"), ("dismiss", "do not post it (audited)")):
        one = hsub.add_parser(name, help=text)
        one.add_argument("id")
        if name != "show":
            one.add_argument("--note", default=None, help="why (required to dismiss)")
    held.set_defaults(func=cmd_held)


def _add_message_commands(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit a message JSON file")
    submit.add_argument("file")
    submit.add_argument("--as", dest="as_user", default=None, help="acting user (default: OS user)")
    submit.add_argument("--idempotency-key", default=None)
    submit.set_defaults(func=cmd_submit)

    approve = sub.add_parser("approve", help="approve a pending message")
    approve.add_argument("id")
    approve.add_argument("--as", dest="as_user", default=None)
    approve.add_argument("--override", action="append", metavar="RULE=REASON")
    approve.add_argument("--official-view", action="store_true",
                         help="美祢 第4-6: decide that the post is the city's official view")
    approve.set_defaults(func=cmd_approve)

    reject = sub.add_parser("reject", help="send a pending message back")
    reject.add_argument("id")
    reject.add_argument("--as", dest="as_user", default=None)
    reject.add_argument("--comment", default="")
    reject.set_defaults(func=cmd_reject)

    status = sub.add_parser("status", help="delivery table (all, or one message)")
    status.add_argument("id", nargs="?")
    status.add_argument("--limit", type=int, default=50)
    status.set_defaults(func=cmd_status)

    sub.add_parser("accounts", help="accounts, last post, credentials (masked)").set_defaults(func=cmd_accounts)


def _add_credentials_commands(sub: Any) -> None:
    creds = sub.add_parser("credentials", help="platform credentials (encrypted at rest)")
    csub = creds.add_subparsers(dest="credentials_command", required=True)
    cset = csub.add_parser("set", help="store an account's credentials from a JSON file")
    cset.add_argument("account")
    cset.add_argument("file")
    cset.add_argument("--reason", default="登録")
    cset.set_defaults(func=cmd_credentials_set)
    csub.add_parser("list", help="credentials, masked, with age").set_defaults(func=cmd_credentials_list)


def main(argv: Sequence[str] | None = None) -> int:
    from gateway.logs import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        return int(args.func(args))
    except GatewayError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
