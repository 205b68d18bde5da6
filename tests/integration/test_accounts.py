"""Account health, stop/resume, rotation records and hijack detection on both databases, plus their API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import metrics
from gateway.errors import AuthError, Conflict, InputError, NotFound, RetryableError, UncertainError
from gateway.models import Delivery, DeliveryState, Platform, Role
from gateway.pipeline.intake.validation import parse_message
from gateway.policy import Policies
from gateway.runtime import open_runtime
from gateway.sandbox.base import PublishedPost
from gateway.services.accounts import AccountHealth, AccountService
from gateway.settings import Settings
from gateway.web.app import build_app
from gateway.web.auth import create_token
from tests.integration.conftest import ALERTS, APPROVER, CONFIG, OPERATOR, STAFF, Harness
from tests.integration.test_intake_approval import msg
from tests.scopes import CITIES

ACCOUNT = "kodaira_x"


def service(
    h: Harness, credentials: Mapping[str, Mapping[str, Any]] | None = None, *, policies: Policies | None = None,
) -> AccountService:
    rows = None if credentials is None else (lambda: credentials)
    return AccountService(store=h.store, policies=policies or h.policies, adapters=h.adapters,
                          credentials_rows=rows, clock=h.clock, wake=h.dispatcher.wake)


async def approved(h: Harness, **fields: Any) -> Delivery:
    submitted = await h.gateway.submit(msg(**fields), STAFF)
    (delivery,) = (await h.gateway.approve(submitted.record.id, APPROVER)).deliveries
    return delivery


async def health_of(accounts: AccountService, account: str = ACCOUNT) -> AccountHealth:
    return next(h for h in await accounts.health() if h.account.id == account)


async def states(h: Harness, *deliveries: Delivery) -> list[DeliveryState]:
    return [(await h.store.get_delivery(d.id)).state for d in deliveries]


def hijack_count(account: str) -> float:
    return metrics.REGISTRY.get_sample_value("gateway_hijack_alerts_total", {"account": account}) or 0.0


# -- stop / resume (小平 3(7)) --------------------------------------------------------------------

async def test_stop_holds_pending_and_new_deliveries_and_resume_sends_them(harness: Harness) -> None:
    accounts = service(harness)
    harness.adapters[Platform.X].fail_next(RetryableError("503"))
    retrying = await approved(harness)
    assert await harness.dispatcher.drain() == 1
    assert await states(harness, retrying) == [DeliveryState.RETRY_WAIT]
    still_queued = await approved(harness, text="小平市の公民館で講座を開きます。")

    assert await accounts.stop(ACCOUNT, OPERATOR.name, "乗っ取りの疑い") == 2
    assert await states(harness, retrying, still_queued) == [DeliveryState.HELD, DeliveryState.HELD]
    for held in (retrying, still_queued):
        assert (await harness.store.get_delivery(held.id)).not_before is None
    new = await approved(harness, text="小平市の防災訓練を行います。")
    emergency = (await harness.gateway.submit(msg(category="emergency", priority="emergency",
                                                  text="【避難指示】警戒レベル4 全員避難してください。"), ALERTS)).deliveries
    assert [new.state, *(d.state for d in emergency)] == [DeliveryState.HELD] * 2
    assert new.not_before is None and emergency[0].not_before is None

    harness.clock.advance(days=3)
    assert await harness.store.release_held(harness.clock()) == []
    assert await harness.dispatcher.drain() == 0
    health = await health_of(accounts)
    assert health.stopped and health.stop_reason == "乗っ取りの疑い"
    with pytest.raises(Conflict):
        await accounts.stop(ACCOUNT, OPERATOR.name, "二度目")
    stops = await harness.store.list_audit(action="account.stopped")
    assert [(e.actor, e.reason, e.detail["account"]) for e in stops] == [(OPERATOR.name, "乗っ取りの疑い", ACCOUNT)]

    assert await accounts.resume(ACCOUNT, OPERATOR.name, "認証情報を変更済み") == 4
    assert await harness.dispatcher.drain() == 4
    assert await states(harness, retrying, still_queued, new, *emergency) == [DeliveryState.SENT] * 4
    assert not (await health_of(accounts)).stopped
    assert [e.reason for e in await harness.store.list_audit(action="account.resumed")] == ["認証情報を変更済み"]
    with pytest.raises(Conflict):
        await accounts.resume(ACCOUNT, OPERATOR.name, "停止していない")


async def test_a_claimed_delivery_is_not_published_after_the_stop(harness: Harness) -> None:
    accounts = service(harness)
    delivery = await approved(harness)
    (claimed,) = await harness.store.claim_due(worker="t1", now=harness.clock(), limit=1, lease_seconds=60)
    assert await accounts.stop(ACCOUNT, OPERATOR.name, "誤投稿が続いている") == 0  # it is `sending`, not pending

    done = await harness.dispatcher.process(claimed)
    assert done.state is DeliveryState.HELD and done.not_before is None and done.attempts == 0
    assert harness.adapters[Platform.X].calls == 0
    assert await accounts.resume(ACCOUNT, OPERATOR.name, "再開") == 1
    assert await harness.dispatcher.drain() == 1
    assert await states(harness, delivery) == [DeliveryState.SENT]


async def test_deliveries_held_by_a_config_stop_go_out_once_it_is_lifted(harness: Harness) -> None:
    stopped_in_config = Policies([m.model_copy(update={"accounts": tuple(
        a.model_copy(update={"stopped": True}) if a.id == ACCOUNT else a for a in m.accounts)})
        for m in harness.policies])
    delivery = await approved(harness)
    harness.dispatcher.policies = stopped_in_config
    await harness.dispatcher.drain()
    assert await states(harness, delivery) == [DeliveryState.HELD] and harness.adapters[Platform.X].calls == 0
    while_stopped = service(harness, policies=stopped_in_config)
    health = await health_of(while_stopped)
    assert health.stopped and health.stop_reason == "設定ファイルで停止中"
    with pytest.raises(Conflict):
        await while_stopped.resume(ACCOUNT, OPERATOR.name, "設定では停止中")

    harness.dispatcher.policies = harness.policies  # the config no longer stops it
    accounts = service(harness)
    assert await accounts.resume(ACCOUNT, OPERATOR.name, "設定の停止を解除") == 1
    assert await harness.dispatcher.drain() == 1
    assert await states(harness, delivery) == [DeliveryState.SENT]
    with pytest.raises(Conflict):
        await accounts.resume(ACCOUNT, OPERATOR.name, "何も保留していない")


async def test_stop_and_resume_validate_input(harness: Harness) -> None:
    accounts = service(harness)
    with pytest.raises(NotFound):
        await accounts.stop("nowhere_x", OPERATOR.name, "理由")
    with pytest.raises(InputError):
        await accounts.stop(ACCOUNT, OPERATOR.name, "   ")
    assert not (await health_of(accounts)).stopped


# -- health -------------------------------------------------------------------------------------

async def test_inactive_is_flagged_at_30_days(harness: Harness) -> None:
    fresh = {"kodaira_facebook": {"set_at": (harness.clock() - timedelta(days=10)).isoformat()}}
    accounts = service(harness, fresh)
    # Never posted: flagged unless its credentials show it is younger than 30 days.
    assert (await health_of(accounts, "kodaira_youtube")).inactive
    assert not (await health_of(accounts, "kodaira_facebook")).inactive
    await approved(harness)
    await harness.dispatcher.drain()
    sent_at = harness.clock()
    health = await health_of(accounts)
    assert (health.last_sent_at, health.days_since_last_post, health.inactive) == (sent_at, 0, False)

    harness.clock.now = sent_at + timedelta(days=29, hours=23)
    assert not (await health_of(accounts)).inactive
    harness.clock.now = sent_at + timedelta(days=30)
    health = await health_of(accounts)
    assert (health.days_since_last_post, health.inactive) == (30, True)
    assert (await health_of(accounts, "kodaira_facebook")).inactive  # 40 days since its credentials were set


async def test_rotation_due_follows_rotation_days_and_recorded_rotations(harness: Harness) -> None:
    now = harness.clock()
    old = now - timedelta(days=400)
    accounts = service(harness, {ACCOUNT: {"set_at": old.isoformat(), "age_days": 400}})
    health = await health_of(accounts)
    assert health.municipality.credentials.rotation_days == 365
    assert (health.credential_set_at, health.credential_age_days) == (old, 400)
    assert health.rotation_due_at == old + timedelta(days=365) and health.rotation_overdue
    unknown = await health_of(accounts, "kodaira_youtube")
    assert (unknown.credential_set_at, unknown.rotation_due_at, unknown.rotation_overdue) == (None, None, False)

    harness.clock.advance(hours=1)
    await accounts.record_rotation(ACCOUNT, OPERATOR.name, "担当者の異動")
    await accounts.record_rotation("kodaira_youtube", OPERATOR.name, "年次更新")
    for account in (ACCOUNT, "kodaira_youtube"):
        health = await health_of(accounts, account)
        assert health.credential_set_at == harness.clock() and health.credential_age_days == 0
        assert health.rotation_due_at == harness.clock() + timedelta(days=365) and not health.rotation_overdue
    events = await harness.store.list_audit(action="credentials.rotated")
    assert [(e.actor, e.reason, e.detail["account"]) for e in events] == [
        (OPERATOR.name, "担当者の異動", ACCOUNT), (OPERATOR.name, "年次更新", "kodaira_youtube")]
    with pytest.raises(InputError):
        await accounts.record_rotation(ACCOUNT, OPERATOR.name, "")


async def test_token_ok_is_false_after_an_auth_failure_until_a_post_succeeds(harness: Harness) -> None:
    accounts = service(harness)
    assert (await health_of(accounts)).token_ok is None
    await approved(harness)
    await harness.dispatcher.drain()
    assert (await health_of(accounts)).token_ok is True

    harness.clock.advance(minutes=5)
    harness.adapters[Platform.X].fail_next(AuthError("401 Unauthorized"))
    failed = await approved(harness, text="小平市の図書館は月曜日が休館日です。")
    await harness.dispatcher.drain()
    assert (await harness.store.get_delivery(failed.id)).error_code == "auth"
    assert (await health_of(accounts)).token_ok is False
    assert (await health_of(accounts, "kodaira_youtube")).token_ok is None

    harness.clock.advance(minutes=5)
    await approved(harness, text="小平市の公民館で講座を開きます。")
    await harness.dispatcher.drain()
    assert (await health_of(accounts)).token_ok is True


async def test_pauses_show_in_health(harness: Harness) -> None:
    accounts = service(harness)
    until = harness.clock() + timedelta(minutes=15)
    await harness.store.pause_account(ACCOUNT, until=until, reason="429", actor="t1")
    health = await health_of(accounts)
    assert (health.paused_until, health.pause_reason) == (until, "429")


# -- hijack detection (逗子 3-5(4), 木更津 11(5)) --------------------------------------------------

async def test_hijack_scan_flags_an_unknown_post_once_and_not_our_own(harness: Harness) -> None:
    accounts = service(harness)
    x = harness.adapters[Platform.X]
    await approved(harness)
    await harness.dispatcher.drain()
    # A post whose receipt was lost: the platform has it, the ledger has no id for it, only its text.
    x.fail_next(UncertainError("timeout"), after_publishing=True)
    lost = await approved(harness, text="小平市の図書館は月曜日が休館日です。")
    await harness.dispatcher.drain()
    assert await states(harness, lost) == [DeliveryState.UNCERTAIN]
    before = hijack_count(ACCOUNT)
    assert await accounts.hijack_scan_once() == []

    posted_at = harness.clock() - timedelta(minutes=3)
    evil = x.inject_remote(ACCOUNT, "【当選】こちらから受け取ってください https://spam.example/", created_at=posted_at)
    x.inject_remote(ACCOUNT, "昔の固定投稿", created_at=harness.clock() - timedelta(days=30))  # outside the window
    (alert,) = await accounts.hijack_scan_once()
    assert (alert.account, alert.remote_id, alert.text, alert.url, alert.posted_at) == (
        ACCOUNT, evil.remote_id, evil.text, evil.url, posted_at)
    assert alert.detected_at == harness.clock() and alert.resolved_at is None
    assert hijack_count(ACCOUNT) == before + 1
    (event,) = await harness.store.list_audit(action="account.hijack_suspected")
    assert event.detail["remote_id"] == evil.remote_id and event.detail["alert_id"] == alert.id
    assert event.detail["text"] == evil.text

    assert await accounts.hijack_scan_once() == []  # never twice for the same post
    assert hijack_count(ACCOUNT) == before + 1
    assert [a.id for a in (await health_of(accounts)).open_hijack_alerts] == [alert.id]


async def test_hijack_scan_skips_an_account_whose_platform_fails(harness: Harness) -> None:
    accounts = service(harness)
    harness.adapters[Platform.FACEBOOK].inject_remote("kodaira_facebook", "不審な投稿")
    harness.adapters[Platform.X].inject_remote(ACCOUNT, "不審な投稿")

    async def broken(account: Any, since: datetime) -> list[Any]:
        raise RetryableError("503")

    harness.adapters[Platform.X].recent = broken  # type: ignore[method-assign]
    found = await accounts.hijack_scan_once()
    assert [a.account for a in found] == ["kodaira_facebook"]


async def test_resolve_a_hijack_alert(harness: Harness) -> None:
    accounts = service(harness)
    harness.adapters[Platform.X].inject_remote(ACCOUNT, "職員が手で投稿したお知らせ")
    (alert,) = await accounts.hijack_scan_once()
    with pytest.raises(InputError):
        await accounts.resolve_hijack(alert.id, OPERATOR.name, " ")
    harness.clock.advance(minutes=1)
    done = await accounts.resolve_hijack(alert.id, OPERATOR.name, "広報担当が手動で投稿したものと確認")
    assert (done.resolved_at, done.resolved_by, done.note) == (
        harness.clock(), OPERATOR.name, "広報担当が手動で投稿したものと確認")
    assert (await health_of(accounts)).open_hijack_alerts == ()
    with pytest.raises(Conflict):
        await accounts.resolve_hijack(alert.id, OPERATOR.name, "もう一度")
    with pytest.raises(NotFound):
        await accounts.resolve_hijack(alert.id + 1000, OPERATOR.name, "ない")
    (event,) = await harness.store.list_audit(action="account.hijack_resolved")
    assert event.actor == OPERATOR.name and event.detail["alert_id"] == alert.id


async def test_queue_depth_gauge(harness: Harness) -> None:
    accounts = service(harness)
    await approved(harness)
    await approved(harness, accounts=["kodaira_facebook"], text="小平市の公民館で講座を開きます。")
    await accounts.update_queue_depth()
    assert metrics.REGISTRY.get_sample_value("gateway_queue_depth", {"state": "queued"}) == 2
    assert metrics.REGISTRY.get_sample_value("gateway_queue_depth", {"state": "held"}) == 0
    await harness.dispatcher.drain()
    await accounts.update_queue_depth()
    assert metrics.REGISTRY.get_sample_value("gateway_queue_depth", {"state": "queued"}) == 0


# -- HTTP API -----------------------------------------------------------------------------------

class Api:
    def __init__(self, client: TestClient, tokens: dict[Role, str]) -> None:
        self.client = client
        self.tokens = tokens

    async def call(self, method: str, path: str, role: Role, body: Any = None, *, raw: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "Content-Type": "application/json"}
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = await self.client.request(method, path, data=data, headers=headers)
        return response.status, await response.json()


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    now = datetime.now(UTC)
    tokens = {role: await create_token(harness.store, user=f"user-{role.value}", role=role, municipalities=CITIES, ttl_days=1, now=now,
                                       actor="test") for role in Role}
    app = build_app(harness.gateway, max_body_bytes=64 * 1024, accounts=service(harness))
    async with TestClient(TestServer(app)) as client:
        yield Api(client, tokens)


async def test_api_accounts_lists_health(api: Api, harness: Harness) -> None:
    status, body = await api.call("GET", "/api/v1/accounts", Role.STAFF)
    assert status == 200
    row = next(r for r in body["accounts"] if r["id"] == ACCOUNT)
    for key in ("municipality", "platform", "handle", "manager", "categories", "stopped", "last_sent_at",
                "days_since_last_post", "paused_until", "pause_reason", "inactive", "credential_age_days",
                "rotation_due_at", "rotation_overdue", "token_ok", "stop_reason", "open_hijack_alerts"):
        assert key in row
    assert row["rotation_days"] == 365 and row["open_hijack_alerts"] == []


ROLE_CASES = [
    ("POST", f"/api/v1/accounts/{ACCOUNT}/stop", {"reason": "乗っ取りの疑い"}, {Role.OPERATOR}),
    ("POST", f"/api/v1/accounts/{ACCOUNT}/rotation", {"reason": "年次更新"}, {Role.OPERATOR}),
    ("GET", "/api/v1/hijack-alerts", None, {Role.OPERATOR, Role.APPROVER}),
]


async def test_api_roles(api: Api) -> None:
    # One test rather than a parametrisation: each case would otherwise pay for a database and tokens.
    for method, path, body, allowed in ROLE_CASES:
        for role in Role:
            if role is Role.ADMIN or role in allowed:
                continue
            status, answer = await api.call(method, path, role, body)
            assert (status, answer["error"]) == (403, "forbidden"), (path, role)
        status, _ = await api.call(method, path, Role.ADMIN if method == "GET" else Role.OPERATOR, body)
        assert status == 200, path


async def test_api_stop_resume_rotation_and_alerts(api: Api, harness: Harness) -> None:
    await approved(harness)
    status, body = await api.call("POST", f"/api/v1/accounts/{ACCOUNT}/stop", Role.OPERATOR, {"reason": "誤投稿"})
    assert status == 200 and body["held"] == 1
    assert body["account"]["stopped"] and body["account"]["stop_reason"] == "誤投稿"
    status, body = await api.call("POST", f"/api/v1/accounts/{ACCOUNT}/stop", Role.ADMIN, {"reason": "再度"})
    assert status == 409
    status, body = await api.call("POST", f"/api/v1/accounts/{ACCOUNT}/resume", Role.ADMIN, {"reason": "復旧"})
    assert status == 200 and body["released"] == 1 and not body["account"]["stopped"]
    status, body = await api.call("POST", f"/api/v1/accounts/{ACCOUNT}/rotation", Role.OPERATOR,
                                  {"reason": "担当者の異動"})
    assert status == 200 and body["account"]["credential_age_days"] == 0

    harness.adapters[Platform.X].inject_remote(ACCOUNT, "不審な投稿")
    await service(harness).hijack_scan_once()
    status, body = await api.call("GET", "/api/v1/hijack-alerts?open=true", Role.APPROVER)
    (alert,) = body["alerts"]
    assert status == 200 and alert["text"] == "不審な投稿" and alert["resolved_at"] is None
    status, body = await api.call("POST", f"/api/v1/hijack-alerts/{alert['id']}/resolve", Role.APPROVER,
                                  {"note": "x"})
    assert status == 403
    status, body = await api.call("POST", f"/api/v1/hijack-alerts/{alert['id']}/resolve", Role.OPERATOR,
                                  {"note": "パスワードを変更し投稿を削除"})
    assert status == 200 and body["resolved_by"] == "user-operator"
    assert (await api.call("GET", "/api/v1/hijack-alerts?open=true", Role.OPERATOR))[1]["alerts"] == []
    assert len((await api.call("GET", "/api/v1/hijack-alerts", Role.OPERATOR))[1]["alerts"]) == 1
    assert (await api.call("POST", "/api/v1/hijack-alerts/abc/resolve", Role.OPERATOR, {"note": "x"}))[0] == 404


BAD_BODIES = [
    (None, None, "reason", "missing"),
    ({}, None, "reason", "missing"),
    ({"reason": "  "}, None, "reason", "missing"),
    ({"reason": 3}, None, "reason", "invalid_type"),
    ([1, 2], None, "(本文)", "invalid_type"),
    (None, "{not json", "(本文)", "invalid_json"),
]


async def test_api_bad_bodies(api: Api) -> None:
    for body, raw, field, code in BAD_BODIES:
        status, answer = await api.call("POST", f"/api/v1/accounts/{ACCOUNT}/stop", Role.OPERATOR, body, raw=raw)
        assert status == 400, (body, raw)
        assert (answer["problems"][0]["field"], answer["problems"][0]["code"]) == (field, code)
        assert answer["message"]  # Japanese, for the console to show
    status, _ = await api.call("GET", "/api/v1/accounts", Role.OPERATOR)
    assert status == 200


async def test_api_unknown_account_and_missing_note(api: Api) -> None:
    status, answer = await api.call("POST", "/api/v1/accounts/nowhere_x/resume", Role.OPERATOR, {"reason": "r"})
    assert status == 404 and "アカウント" in answer["message"]
    status, answer = await api.call("POST", "/api/v1/hijack-alerts/1/resolve", Role.OPERATOR, {})
    assert status == 400 and answer["problems"][0]["field"] == "note"


# -- periodic job and the runtime -----------------------------------------------------------------

async def test_periodic_job_scans_and_keeps_running(harness: Harness) -> None:
    accounts = service(harness)
    harness.adapters[Platform.X].inject_remote(ACCOUNT, "不審な投稿")
    job = asyncio.create_task(accounts.run_periodic(0.01, metrics_interval_s=0.01))
    try:
        for _ in range(200):
            if await harness.store.list_hijack_alerts():
                break
            await asyncio.sleep(0.01)
        assert len(await harness.store.list_hijack_alerts()) == 1
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_runtime_scans_the_sandbox_with_the_real_adapters(sqlite_url: str) -> None:
    """The X adapter's recent() against the sandbox: our own post is known by id, a foreign one is caught."""
    settings = Settings(database_url=sqlite_url, platforms="sandbox", config_dir=CONFIG)
    async with open_runtime(settings, start=False) as rt:
        assert rt.accounts is not None and rt.sandbox is not None
        await rt.store.ensure_user(ALERTS.name, ALERTS.role, actor="test")
        message = parse_message({"municipality": "kisarazu", "category": "emergency", "priority": "emergency",
                                 "accounts": ["kisarazu_x"], "text": "【避難指示】警戒レベル4 木更津市に避難指示を発令しました。"})
        await rt.gateway.submit(message, ALERTS)
        await rt.gateway.dispatcher.drain()
        assert await rt.accounts.hijack_scan_once() == []
        state = rt.sandbox.state
        foreign = state.publish(PublishedPost(platform=Platform.X, account="kisarazu_x", remote_id=state.next_id(),
                                              text="フォロワー限定プレゼント実施中", created_at=datetime.now(UTC)))
        (alert,) = await rt.accounts.hijack_scan_once()
        assert (alert.account, alert.remote_id, alert.text) == ("kisarazu_x", foreign.remote_id, foreign.text)
