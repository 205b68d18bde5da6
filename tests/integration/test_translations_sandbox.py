"""End to end (issue 17): a routine post with staff-written English and やさしい日本語 versions, submitted and
approved through the HTTP API, reaches the sandbox through the real adapters on SQLite and PostgreSQL:
an X account with ["ja", "en"] posts twice, a ["ja"] account once, LINE sends its three languages in one
broadcast, each exactly as the preview showed it; a violation in the English version blocks. A correction
says so in each language it is posted in ([Correction], 【なおし】, 【訂正】), as the console previewed it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import cli
from gateway.models import Platform, Role, Scope
from gateway.pipeline.checks import default_engine
from gateway.pipeline.intake.validation import parse_message
from gateway.runtime import Runtime, open_runtime
from gateway.services.passwords import hash_password
from gateway.settings import Settings
from gateway.web.app import build_app
from gateway.web.auth import create_token
from gateway.web.console.compose import message_from_fields
from gateway.web.console.preview import preview
from tests.integration.conftest import OFFICE_HOURS, Clock
from tests.integration.console_client import PASSWORD, login

ROOT = Path(__file__).resolve().parents[2]
JAPANESE = "木更津市民まつりを11月29日（日）に中央公園で開きます。"
ENGLISH = "The Kisarazu City Festival is held at Chuo Park on Sunday, November 29."
EASY = "11月(がつ)29日(にち)に まつりが あります。中央公園(ちゅうおうこうえん)に 来(き)て ください。"
MESSAGE: dict[str, Any] = {
    "municipality": "kisarazu", "category": "event",
    "accounts": ["kisarazu_x", "kisarazu_facebook", "kisarazu_line"], "text": JAPANESE,
    "translations": [{"language": "en", "text": ENGLISH}, {"language": "ja-easy", "text": EASY}],
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The seed cities, with 木更津市's main X account posting Japanese and English."""
    out = tmp_path / "municipalities"
    out.mkdir()
    for source in (ROOT / "config" / "municipalities").glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        if source.name == "kisarazu.toml":
            text, count = re.subn(r'(id = "kisarazu_x"\n)', r'\1languages = ["ja", "en"]\n', text)
            assert count == 1
        (out / source.name).write_text(text, encoding="utf-8")
    return out


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    tokens: dict[Role, str]

    async def post(self, path: str, role: Role, body: Any = None, **headers: str) -> tuple[int, Any]:
        response = await self.client.post(path, json=body, headers={
            "Authorization": f"Bearer {self.tokens[role]}", **headers})
        return response.status, await response.json()

    async def get(self, path: str, role: Role, **params: str) -> tuple[int, Any]:
        response = await self.client.get(path, params=params,
                                         headers={"Authorization": f"Bearer {self.tokens[role]}"})
        return response.status, await response.json()

    def texts(self, platform: Platform, account: str) -> list[str]:
        assert self.rt.sandbox is not None
        return [p.text for p in self.rt.sandbox.state.live_posts(platform, account)]


@pytest.fixture
async def env(database_url: str, config_dir: Path, tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings(database_url=database_url, platforms="sandbox", config_dir=config_dir,
                        media_dir=tmp_path / "media")
    async with open_runtime(settings, start=False, clock=Clock(OFFICE_HOURS), engine=default_engine()) as rt:
        now = datetime.now(UTC)
        tokens = {role: await create_token(rt.store, user=f"k-{role.value}", role=role, municipalities=["kisarazu"],
                                           ttl_days=1, now=now, actor="test")
                  for role in (Role.STAFF, Role.APPROVER, Role.OPERATOR)}
        async with TestClient(TestServer(build_app(rt.gateway))) as client:
            yield Env(rt, client, tokens)


async def _submit_and_approve(env: Env, body: dict[str, Any], key: str = "festival-1") -> str:
    status, submitted = await env.post("/api/v1/messages", Role.STAFF, body, **{"Idempotency-Key": key})
    assert status in (200, 201, 202), submitted
    status, approved = await env.post(f"/api/v1/messages/{submitted['id']}/approve", Role.APPROVER, {})
    assert status == 200, approved
    await env.rt.gateway.dispatcher.drain()
    return str(submitted["id"])


async def test_each_account_gets_its_languages_exactly_as_previewed(env: Env) -> None:
    shown = await preview(env.rt.gateway, parse_message(MESSAGE))
    assert shown["verdict"] == "pass", shown["findings"]
    previewed = {(p["account"], p["language"]): [part["text"] for part in p["parts"] if part["text"]]
                 for p in shown["posts"]}
    assert sorted(previewed) == [("kisarazu_facebook", "ja"), ("kisarazu_line", "ja"), ("kisarazu_x", "en"),
                                 ("kisarazu_x", "ja")]

    message_id = await _submit_and_approve(env, MESSAGE)

    x_posts = env.texts(Platform.X, "kisarazu_x")
    assert sorted(x_posts) == sorted([*previewed[("kisarazu_x", "ja")], *previewed[("kisarazu_x", "en")]])
    assert len(x_posts) == 2 and any(ENGLISH in t for t in x_posts) and any(JAPANESE in t for t in x_posts)
    facebook = env.texts(Platform.FACEBOOK, "kisarazu_facebook")
    assert facebook == previewed[("kisarazu_facebook", "ja")] and ENGLISH not in facebook[0]
    assert env.rt.sandbox is not None
    (broadcast,) = env.rt.sandbox.state.live_posts(Platform.LINE, "kisarazu_line")
    line_texts = [m["text"] for m in broadcast.extra["messages"]]
    assert line_texts == previewed[("kisarazu_line", "ja")]
    assert line_texts == [JAPANESE, EASY, ENGLISH]  # the account's order: ja, ja-easy, en

    status, listed = await env.get("/api/v1/deliveries", Role.OPERATOR)
    assert status == 200
    mine = [(d["account"], d["language"], d["state"]) for d in listed["deliveries"] if d["message_id"] == message_id]
    assert sorted(mine) == [("kisarazu_facebook", "ja", "sent"), ("kisarazu_line", "ja", "sent"),
                            ("kisarazu_x", "en", "sent"), ("kisarazu_x", "ja", "sent")]


async def test_a_correction_is_marked_in_each_language_exactly_as_previewed(env: Env) -> None:
    original = await _submit_and_approve(env, MESSAGE)
    assert env.rt.sandbox is not None
    first = {p.text: p.remote_id for p in env.rt.sandbox.state.live_posts(Platform.X, "kisarazu_x")}
    japanese, english = "木更津市民まつりは11月29日（日）に港の広場で開きます。", "The festival is at the Harbour Square."
    easy = "まつりは 港(みなと)の 広場(ひろば)で あります。"
    # The console's form and preview (compose.message_from_fields marks a correction as intake does).
    form = {"municipality": "kisarazu", "category": "event", "accounts": MESSAGE["accounts"], "text": japanese,
            "text_en": english, "text_ja-easy": easy, "correction_of": original}
    shown = await preview(env.rt.gateway, message_from_fields(form))
    assert shown["verdict"] in ("pass", "review"), shown["findings"]
    previewed = {(p["account"], p["language"]): [part["text"] for part in p["parts"] if part["text"]]
                 for p in shown["posts"]}
    assert previewed[("kisarazu_x", "en")] == [f"[Correction] {english}"]
    assert previewed[("kisarazu_facebook", "ja")] == [f"【訂正】{japanese}"]
    assert previewed[("kisarazu_line", "ja")] == [f"【訂正】{japanese}", f"【なおし】{easy}", f"[Correction] {english}"]

    # The API takes the texts as staff wrote them; intake marks them.
    body = {**MESSAGE, "text": japanese, "correction_of": original,
            "translations": [{"language": "en", "text": english}, {"language": "ja-easy", "text": easy}]}
    correction = await _submit_and_approve(env, body, key="festival-correction")
    record = await env.rt.store.get_message(correction)
    assert record.body.text == f"【訂正】{japanese}"
    assert [t.text for t in record.body.translations] == [f"[Correction] {english}", f"【なおし】{easy}"]

    x_posts = [p for p in env.rt.sandbox.state.live_posts(Platform.X, "kisarazu_x") if p.text not in first]
    assert sorted(p.text for p in x_posts) == sorted(previewed[("kisarazu_x", "ja")] + previewed[("kisarazu_x", "en")])
    (english_post,) = [p for p in x_posts if p.text == f"[Correction] {english}"]
    assert english_post.reply_to == first[ENGLISH]  # the English correction answers the English post
    facebook = env.texts(Platform.FACEBOOK, "kisarazu_facebook")
    assert facebook[-1:] == previewed[("kisarazu_facebook", "ja")] and len(facebook) == 2
    broadcasts = env.rt.sandbox.state.live_posts(Platform.LINE, "kisarazu_line")
    assert [m["text"] for m in broadcasts[-1].extra["messages"]] == previewed[("kisarazu_line", "ja")]
    assert len(broadcasts) == 2

    # 訂正する in the console: the form starts from the earlier post's versions, each already marked.
    await env.rt.store.set_password("k-staff", hash_password(PASSWORD), actor="test")
    await login(env.client, "k-staff")
    page = await (await env.client.get("/console/compose", params={"correction_of": original})).text()
    for marked in (f"【訂正】{JAPANESE}", f"[Correction] {ENGLISH}", f"【なおし】{EASY}"):
        assert f">{marked}</textarea>" in page, marked


async def test_a_repeat_and_another_worker_round_post_nothing_twice(env: Env) -> None:
    await _submit_and_approve(env, MESSAGE)
    status, again = await env.post("/api/v1/messages", Role.STAFF, MESSAGE, **{"Idempotency-Key": "festival-1"})
    assert status in (200, 201, 202), again
    await env.rt.gateway.dispatcher.drain()
    assert len(env.texts(Platform.X, "kisarazu_x")) == 2
    assert env.rt.sandbox is not None
    assert len(env.rt.sandbox.state.live_posts(Platform.LINE, "kisarazu_line")) == 1


async def test_an_account_without_japanese_gets_the_english_only_when_the_message_carries_it(env: Env) -> None:
    emergency = {"municipality": "kisarazu", "category": "public_safety", "accounts": ["kisarazu_en_x"],
                 "text": "市内で大規模な断水が発生しています。"}
    # kisarazu_en_x posts emergencies only (its categories); the question here is its languages.
    plain = parse_message({**emergency, "category": "emergency"})
    shown = await preview(env.rt.gateway, plain)
    assert [p.get("error") for p in shown["posts"]] == [
        "このアカウントは英語で発信します。この投稿にはその言語の版がないため送りません"]
    english = parse_message({**emergency, "category": "emergency",
                             "translations": [{"language": "en", "text": "Water outage across the city."}]})
    shown = await preview(env.rt.gateway, english)
    assert [(p["language"], p["parts"][0]["text"]) for p in shown["posts"]] == [
        ("en", "Water outage across the city.")]


async def test_a_violation_in_the_english_version_blocks_and_stores_nothing(env: Env) -> None:
    bad = {**MESSAGE, "translations": [{"language": "en", "text": "Questions: Taro, 090-1234-5678."}]}
    status, body = await env.post("/api/v1/messages", Role.STAFF, bad)
    assert status == 422, body
    (mobile,) = [f for f in body["findings"] if f["rule"] == "personal.mobile"]
    assert mobile["field"] == "translations[0].text" and mobile["message"].startswith("英語版（translations[0].text）")
    status, listed = await env.get("/api/v1/messages", Role.STAFF)
    assert status == 200 and listed["messages"] == []


async def test_an_english_version_too_long_for_x_blocks_with_a_length_finding(env: Env) -> None:
    long = {**MESSAGE, "translations": [{"language": "en", "text": "Festival news. " * 25}]}
    status, body = await env.post("/api/v1/messages", Role.STAFF, long)
    assert status == 422, body
    assert [(f["rule"], f["account"], f["field"]) for f in body["findings"] if f["rule"].startswith("length.")] == [
        ("length.x", "kisarazu_x", "translations[0].text")]


async def test_bad_versions_are_refused_in_japanese_naming_the_field(env: Env) -> None:
    bad = {**MESSAGE, "translations": [{"language": "en", "text": ENGLISH}, {"language": "fr", "text": "Fête"}]}
    status, body = await env.post("/api/v1/messages", Role.STAFF, bad)
    assert status == 400, body
    assert [p["field"] for p in body["problems"]] == ["translations[1].language"]
    assert "指定できません" in body["problems"][0]["message"]


async def test_the_cli_submits_versions_and_refuses_bad_ones_naming_the_field(
        env: Env, config_dir: Path, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await env.rt.store.ensure_user("k-cli", Role.STAFF, actor="test", scope=Scope.of("kisarazu"))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(MESSAGE, ensure_ascii=False), encoding="utf-8")
    bad.write_text(json.dumps({**MESSAGE, "translations": [{"language": "en", "text": ENGLISH},
                                                           {"language": "en", "text": "again"}]}), encoding="utf-8")
    base = ["--database-url", database_url, "--config-dir", str(config_dir)]
    assert await asyncio.to_thread(cli.main, [*base, "submit", str(good), "--as", "k-cli"]) == 0
    (record,) = await env.rt.store.list_messages()
    assert [(t.language, t.text) for t in record.body.translations] == [("en", ENGLISH), ("ja-easy", EASY)]
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, [*base, "submit", str(bad), "--as", "k-cli"]) != 0
    assert "translations[1].language" in capsys.readouterr().err
    assert len(await env.rt.store.list_messages()) == 1
