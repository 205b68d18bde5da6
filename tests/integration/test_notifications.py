"""Notifications end to end on real parts: events written into the outbox by their own transactions (SQLite and
PostgreSQL), sent by the notifier to a real SMTP server (aiosmtpd) and a real HTTP webhook receiver."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.errors import InputError, PermanentError
from gateway.models import Message, MessageState, Platform
from gateway.notifications.notifier import NoticeRetry, Notifier
from gateway.policy import Policies
from gateway.policy_notifications import Notifications, Smtp, Webhook
from gateway.runtime import open_runtime
from gateway.services import users
from gateway.settings import Settings
from gateway.store.records import NewHeldAlert, SuspectPost
from tests.integration.conftest import APPROVER, CONFIG, OPERATOR, STAFF, Harness
from tests.notifyparts import Hooks, Mailbox, smtp_server, webhook_receiver

TOKEN = "T0KENsecretXYZ987654321abcdef"
SMTP_PASSWORD = "pw-Secr3t-notify-987654"
CONSOLE = "https://koho.city.kodaira.example.jp"
KACHO = "kacho@city.kodaira.tokyo.jp"
JOHO = "joho@city.kodaira.tokyo.jp"
SATO = "sato@city.kodaira.tokyo.jp"
FESTIVAL = "小平市民まつりを中央公園で開催します。ぜひお越しください。"


class Parts:
    mailbox: Mailbox
    smtp_port: int
    hooks: Hooks
    url: str


@pytest.fixture
async def parts() -> AsyncIterator[Parts]:
    found = Parts()
    async with smtp_server(with_auth=True) as (box, port), webhook_receiver(f"/services/{TOKEN}") as (hooks, url):
        found.mailbox, found.smtp_port, found.hooks, found.url = box, port, hooks, url
        yield found


@pytest.fixture
def policies(policies: Policies, parts: Parts) -> Policies:
    """The seed cities, with kodaira telling people by mail (its approvers and operators) and by webhook."""
    config = Notifications(
        smtp=Smtp(host="127.0.0.1", port=parts.smtp_port, security="none", username="gateway",
                  password_secret="kodaira_smtp", sender="koho-gateway@city.kodaira.tokyo.jp", timeout_s=5),
        recipients={"approver": (KACHO,), "operator": (JOHO,)},
        webhooks=(Webhook(id="koho_chat", url_secret="kodaira_chat", timeout_s=5),),
    )
    return Policies(m.model_copy(update={"notifications": config}) if m.id == "kodaira" else m for m in policies)


def notifier(harness: Harness, parts: Parts, **secrets: str) -> Notifier:
    given = {"kodaira_smtp": SMTP_PASSWORD, "kodaira_chat": parts.url, **secrets}
    return Notifier(store=harness.store, policies=harness.policies, console_url=CONSOLE, clock=harness.clock,
                    secrets={k: SecretStr(v) for k, v in given.items() if v}, retry=NoticeRetry(quick_tries=1))


def msg(**fields: Any) -> Message:
    return Message.model_validate({"municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"],
                                   "text": FESTIVAL, **fields})


async def test_a_post_waiting_reaches_its_approvers_by_mail_and_webhook(harness: Harness, parts: Parts) -> None:
    sender = notifier(harness, parts)
    try:
        submitted = await harness.gateway.submit(msg(title="市民まつりのお知らせ"), STAFF)
        assert submitted.record.state is MessageState.PENDING_APPROVAL
        assert await sender.run_once() == 1
        assert await sender.run_once() == 0  # told once
    finally:
        await sender.aclose()
    [mail] = parts.mailbox.to(KACHO)
    body = mail.get_content()
    assert mail["Subject"] == "【小平市】承認待ちの投稿があります「市民まつりのお知らせ」"
    assert "アカウント: 小平市 X kodaira_tokyo" in body
    assert f"{CONSOLE}/console/messages/{submitted.record.id}" in body
    assert "投稿者: sato" in body
    assert parts.mailbox.logins == [("gateway", SMTP_PASSWORD)]
    [hook] = parts.hooks.received
    assert hook["event"] == "approval_waiting" and hook["city"] == "小平市"
    assert "市民まつりのお知らせ" in hook["text"] and hook["link"].startswith(f"{CONSOLE}/console/messages/")
    assert parts.hooks.headers[0]["Idempotency-Key"] == hook["id"]
    [row] = await harness.store.list_notifications()
    assert row.state == "sent" and row.attempts == 1
    assert sorted(row.done) == ["kodaira:mail:" + KACHO, "kodaira:webhook:koho_chat"]


async def test_an_edited_post_waiting_again_says_its_revision(harness: Harness, parts: Parts) -> None:
    sender = notifier(harness, parts)
    try:
        submitted = await harness.gateway.submit(msg(title="市民まつりのお知らせ"), STAFF)
        await harness.gateway.revise(submitted.record.id, msg(title="市民まつりのお知らせ", text=FESTIVAL + "雨天決行です。"),
                                     STAFF, expected_revision=1)
        assert await sender.run_once() == 2
    finally:
        await sender.aclose()
    subjects = [m["Subject"] for m in parts.mailbox.to(KACHO)]
    assert subjects == ["【小平市】承認待ちの投稿があります「市民まつりのお知らせ」",
                        "【小平市】承認待ちの投稿があります「市民まつりのお知らせ」（第2版）"]


async def test_a_send_back_reaches_the_author_at_the_address_of_their_user(harness: Harness, parts: Parts) -> None:
    await users.set_email(harness.store, name=STAFF.name, email=SATO, actor="admin")
    submitted = await harness.gateway.submit(msg(), STAFF)
    await harness.gateway.reject(submitted.record.id, APPROVER, "日時を書き足してください")
    sender = notifier(harness, parts)
    try:
        assert await sender.run_once() == 2
    finally:
        await sender.aclose()
    [mail] = parts.mailbox.to(SATO)
    body = mail.get_content()
    assert mail["Subject"] == "【小平市】投稿が差し戻されました「小平市民まつりを中央公園で開催します。ぜひお越しください。」"
    assert "コメント: 日時を書き足してください" in body and "差し戻した人: suzuki" in body
    assert f"/console/messages/{submitted.record.id}" in body
    events = sorted(n.event for n in await harness.store.list_notifications())
    assert events == ["approval_waiting", "sent_back"]


async def test_a_failed_delivery_reaches_the_operators(harness: Harness, parts: Parts) -> None:
    submitted = await harness.gateway.submit(msg(), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    harness.adapters[Platform.X].fail_next(PermanentError("投稿が拒否されました（重複）", code="duplicate"))
    await harness.dispatcher.drain()
    [failed] = await harness.store.list_notifications(event="delivery_failed")
    assert failed.delivery_id is not None and failed.message_id == submitted.record.id
    sender = notifier(harness, parts)
    try:
        await sender.run_once()
    finally:
        await sender.aclose()
    [mail] = parts.mailbox.to(JOHO)
    assert mail["Subject"] == "【小平市】配信に失敗しました（小平市 X kodaira_tokyo）"
    assert "理由: 投稿が拒否されました（重複）" in mail.get_content()


async def test_held_alerts_and_hijack_alerts_reach_the_operators(harness: Harness, parts: Parts) -> None:
    now = harness.clock()
    await harness.store.add_held_alert(NewHeldAlert(
        hold_code="stale", reason="発表から6時間以上たっているため保留しました", format="json", alert_key="k1",
        kind="evacuation", title="避難指示（小平市）", sender="気象庁", sent_at=now - timedelta(hours=6), drill=False,
        municipalities=("kodaira",), forced=None, content="c1", raw="{}", sha256="0" * 64), actor="jma-feed")
    await harness.store.add_hijack_alerts([SuspectPost("kodaira_x", "999", "怪しいキャンペーンに当選しました！", None,
                                                       now)], actor="scanner")
    sender = notifier(harness, parts)
    try:
        await sender.run_once()
    finally:
        await sender.aclose()
    subjects = sorted(m["Subject"] for m in parts.mailbox.to(JOHO))
    assert subjects == ["【小平市】【至急】乗っ取りの疑い（小平市 X kodaira_tokyo）",
                        "【小平市】防災情報が保留されています（要確認）「避難指示（小平市）」"]
    texts = " ".join(m.get_content() for m in parts.mailbox.to(JOHO))
    assert "怪しいキャンペーンに当選しました！" in texts and f"{CONSOLE}/console/accounts" in texts
    assert "発表から6時間以上たっているため保留しました" in texts and f"{CONSOLE}/console/alerts" in texts
    assert {h["event"] for h in parts.hooks.received} == {"alert_held", "hijack"}


async def test_a_webhook_down_for_a_while_still_gets_the_notification_once(harness: Harness, parts: Parts) -> None:
    parts.hooks.down = True
    sender = notifier(harness, parts)
    try:
        await harness.gateway.submit(msg(), STAFF)
        await sender.run_once()
        [row] = await harness.store.list_notifications()
        assert row.state == "pending" and row.attempts == 1 and row.done == ("kodaira:mail:" + KACHO,)
        assert parts.hooks.refused == 1 and "503" in (row.last_error or "")
        harness.clock.advance(seconds=10)
        assert await sender.run_once() == 0  # backing off: not due yet
        harness.clock.advance(seconds=30)
        await sender.run_once()
        assert parts.hooks.refused == 2
        parts.hooks.down = False
        harness.clock.advance(minutes=2)
        await sender.run_once()
        harness.clock.advance(hours=1)
        await sender.run_once()
    finally:
        await sender.aclose()
    assert len(parts.hooks.received) == 1
    assert len(parts.mailbox.to(KACHO)) == 1  # the mail, sent the first time, was not sent again
    [row] = await harness.store.list_notifications()
    assert row.state == "sent" and row.attempts == 3 and row.last_error is None


async def test_a_notification_is_given_up_after_the_retry_window(harness: Harness, parts: Parts) -> None:
    parts.hooks.down = True
    sender = notifier(harness, parts)
    sender.retry = NoticeRetry(quick_tries=1, give_up_after=timedelta(minutes=5))
    try:
        await harness.gateway.submit(msg(), STAFF)
        for _ in range(6):
            await sender.run_once()
            harness.clock.advance(minutes=2)
    finally:
        await sender.aclose()
    [row] = await harness.store.list_notifications()
    assert row.state == "failed" and row.finished_at is not None


async def test_secrets_never_reach_the_logs_or_the_outbox(harness: Harness, parts: Parts,
                                                          caplog: pytest.LogCaptureFixture, keep_logging: None) -> None:
    caplog.set_level(logging.DEBUG)
    parts.hooks.down = True
    parts.mailbox.refuse = 451
    sender = notifier(harness, parts)
    try:
        await harness.gateway.submit(msg(), STAFF)
        await sender.run_once()
        [failing] = await harness.store.list_notifications()
        parts.hooks.down = False
        parts.mailbox.refuse = None
        harness.clock.advance(minutes=5)
        await sender.run_once()
    finally:
        await sender.aclose()
    assert len(parts.hooks.received) == 1 and len(parts.mailbox.messages) == 1
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    rows = repr(await harness.store.list_notifications()) + repr(await harness.store.list_audit(limit=1000))
    for secret in (TOKEN, SMTP_PASSWORD, parts.url):
        assert secret not in logged
        assert secret not in rows
    assert secrets_absent(repr(failing))
    assert "Webhook「koho_chat」が 503" in (failing.last_error or "")  # named by its id, never its URL


def secrets_absent(text: str) -> bool:
    return all(secret not in text for secret in (TOKEN, SMTP_PASSWORD, "127.0.0.1:"))


async def test_a_destination_without_its_secret_is_skipped_not_a_crash(harness: Harness, parts: Parts,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    sender = notifier(harness, parts, kodaira_chat="")
    try:
        problems = sender.configuration_problems()
        assert problems == ["kodaira: 通知の秘密情報「kodaira_chat」が未設定のため、その宛先には送りません"
                            "（環境変数 GATEWAY_NOTIFICATION_SECRETS__KODAIRA_CHAT）"]
        await harness.gateway.submit(msg(), STAFF)
        await sender.run_once()
    finally:
        await sender.aclose()
    assert len(parts.mailbox.to(KACHO)) == 1 and parts.hooks.received == []
    [row] = await harness.store.list_notifications()
    assert row.state == "sent"


async def test_an_approver_with_an_email_is_told_without_being_listed(harness: Harness, parts: Parts) -> None:
    await users.set_email(harness.store, name=APPROVER.name, email="suzuki@city.kodaira.tokyo.jp", actor="admin")
    await users.set_email(harness.store, name=OPERATOR.name, email="ito@city.kodaira.tokyo.jp", actor="admin")
    sender = notifier(harness, parts)
    try:
        await harness.gateway.submit(msg(), STAFF)
        await sender.run_once()
    finally:
        await sender.aclose()
    assert sorted(m["To"] for m in parts.mailbox.messages) == [KACHO, "suzuki@city.kodaira.tokyo.jp"]


async def test_an_emergency_writes_no_notification(harness: Harness) -> None:
    alert = msg(category="emergency", priority="emergency", text="【避難指示】警戒レベル4 小平市全域に避難指示を発令しました。",
                emergency_reason="避難指示の発令")
    from tests.integration.conftest import ALERTS

    await harness.gateway.submit(alert, ALERTS)
    await harness.dispatcher.drain()
    assert await harness.store.list_notifications() == []


async def test_a_bad_email_is_refused_in_japanese(harness: Harness) -> None:
    with pytest.raises(InputError, match="メールアドレスの形式が正しくありません"):
        await users.set_email(harness.store, name=STAFF.name, email="sato at city", actor="admin")
    cleared = await users.set_email(harness.store, name=STAFF.name, email="  ", actor="admin")
    assert cleared.email is None


async def test_the_gateway_starts_when_a_citys_notification_secrets_are_not_set(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, keep_logging: None) -> None:
    """`make run` with no environment: the destinations are skipped with a warning, nothing crashes."""
    config = tmp_path / "municipalities"
    config.mkdir()
    for path in CONFIG.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "kodaira":
            text += ('\n[notifications.smtp]\nhost = "127.0.0.1"\nusername = "u"\npassword_secret = "kodaira_smtp"\n'
                     'sender = "koho@city.kodaira.tokyo.jp"\n\n[[notifications.webhooks]]\nid = "chat"\n'
                     'url_secret = "kodaira_chat"\n')
        (config / path.name).write_text(text, encoding="utf-8")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", config_dir=config,
                        var_dir=tmp_path / "var", check_workers=0, sandbox_port=0)
    caplog.set_level(logging.WARNING, logger="gateway.notifications")
    async with open_runtime(settings, start=True) as runtime:
        assert "notifications" in {h.name for h in runtime.worker.supervisor.health()}
    warned = [r.getMessage() for r in caplog.records if r.name == "gateway.notifications"]
    assert any("GATEWAY_NOTIFICATION_SECRETS__KODAIRA_CHAT" in w for w in warned)
    assert any("GATEWAY_NOTIFICATION_SECRETS__KODAIRA_SMTP" in w for w in warned)
