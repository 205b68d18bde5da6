"""Compose (issue 16): a text that does not fit is a blocking `length.*` finding that says by how much, the
preview counts what will be sent (the form's CR LF as the script's LF), and a refused submit keeps the text."""

from __future__ import annotations

import json
import subprocess
import sys

from aiohttp.test_utils import TestClient

from gateway.adapters.render import x_length
from gateway.adapters.x import render_x
from tests.integration.conftest import STAFF, Harness
from tests.integration.test_console import app, client, login  # noqa: F401  (fixtures)

X_OVER = "小平市民まつりを中央公園で開催します。" * 7 + "問い合わせ：市民課042-346-9501まで"  # 20 over X's 280
# 280 with an LF line break; 281 had the form's CR LF been kept.
X_EXACT = "小平市民まつりを開催します。" * 9 + "ぜひお越しください\r\n中央公園!"
FORM = {"municipality": "kodaira", "category": "event", "accounts": "kodaira_x"}


def test_the_fixtures_measure_what_they_say() -> None:
    assert x_length(X_OVER).weighted_length == 300
    assert x_length(X_EXACT.replace("\r\n", "\n")).weighted_length == 280
    assert x_length(X_EXACT).weighted_length == 281


async def test_preview_blocks_a_text_too_long_for_x_and_counts_it_whole(client: TestClient) -> None:  # noqa: F811
    await login(client, STAFF.name)
    page = await client.get("/console/compose")
    csrf = (await page.text()).split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = await client.post("/console/compose/preview", json={**FORM, "accounts": ["kodaira_x"], "text": X_OVER},
                                 headers={"Accept": "application/json", "X-CSRF-Token": csrf})
    body = await response.json()
    assert body["verdict"] == "block"
    [finding] = [f for f in body["findings"] if f["rule"].startswith("length.")]
    assert finding["rule"] == "length.x" and "20 超えています" in finding["message"]
    assert finding["account"] == "kodaira_x"
    [post] = body["posts"]
    assert post["counts"][0]["value"] == 300 and post["over"] is True


async def test_form_crlf_is_the_previewed_lf_text_and_nothing_is_cut(client: TestClient,  # noqa: F811
                                                                    harness: Harness) -> None:
    token = await login(client, STAFF.name)
    preview = await client.post("/console/compose/preview",
                                json={**FORM, "accounts": ["kodaira_x"], "text": X_EXACT.replace("\r\n", "\n")},
                                headers={"Accept": "application/json", "X-CSRF-Token": token})
    previewed = await preview.json()
    assert previewed["verdict"] != "block" and previewed["posts"][0]["counts"][0]["value"] == 280
    sent = await client.post("/console/compose", data={**FORM, "text": X_EXACT, "csrf": token,
                                                       "idempotency_key": "crlf-1"}, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    record = await harness.store.get_message(sent.headers["Location"].rsplit("/", 1)[1])
    assert "\r" not in record.body.text
    account = harness.policies.account("kodaira_x")  # the X renderer sends the previewed text whole
    assert account is not None
    [part] = render_x(record.body, account[1]).parts
    assert part.text == previewed["posts"][0]["parts"][0]["text"] and "…" not in part.text


async def test_a_blocked_submit_is_a_japanese_form_with_the_text_kept(client: TestClient) -> None:  # noqa: F811
    token = await login(client, STAFF.name)
    response = await client.post("/console/compose", data={**FORM, "text": X_OVER, "csrf": token,
                                                           "idempotency_key": "over-1"})
    html = await response.text()
    assert response.status == 422, html[:500]
    assert "20 超えています" in html and "禁止" in html
    assert "042-346-9501まで</textarea>" in html  # the typed text is kept
    assert "\\u" not in html


ATSUGI = {"municipality": "atsugi", "category": "tourism"}
LONG = "厚木の鮎まつりの花火大会を相模川の河川敷で開催します。" * 100  # 2,700 characters, 8,100 bytes


def test_gateway_check_jsonl_blocks_a_text_too_long_for_its_platform() -> None:
    lines = [{**FORM, "accounts": ["kodaira_x"], "text": X_OVER},
             {**FORM, "accounts": ["kodaira_x"], "text": X_EXACT},
             {**ATSUGI, "accounts": ["atsugi_instagram"], "text": LONG,
              "media": [{"kind": "image", "path": "hanabi.jpg", "alt_text": "花火"}]},
             {**ATSUGI, "accounts": ["atsugi_youtube"], "text": LONG[:1800],  # 5,400 bytes
              "media": [{"kind": "video", "path": "hanabi.mp4"}]},
             {**ATSUGI, "accounts": ["atsugi_youtube"], "text": LONG[:1800]}]  # no video: not sent to YouTube
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "check", "--jsonl", "-"], check=False,
                          input="\n".join(json.dumps(line, ensure_ascii=False) for line in lines),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    over, crlf, instagram, youtube, no_video = [json.loads(line) for line in done.stdout.splitlines()]
    assert over["verdict"] == "block"
    assert any(f["rule"].startswith("length.") and "20 超えています" in f["message"] for f in over["findings"])
    assert crlf["verdict"] == "block"  # through the API, CR LF counts two: 281
    assert any("1 超えています" in f["message"] for f in crlf["findings"] if f["rule"] == "length.x")
    [caption] = [f for f in instagram["findings"] if f["rule"] == "length.instagram"]
    assert instagram["verdict"] == "block" and "500 超えています" in caption["message"]
    [description] = [f for f in youtube["findings"] if f["rule"] == "length.youtube"]
    assert "説明欄" in description["message"] and "400 超えています" in description["message"]
    assert not [f for f in no_video["findings"] if f["rule"].startswith("length.")]


async def test_the_preview_shows_a_title_only_where_the_platform_sends_one(client: TestClient) -> None:  # noqa: F811
    """X has no title field (the text is the post) and Facebook puts the title at the head of the text:
    a separate タイトル line there would show what is never sent; YouTube sends the video's title."""
    token = await login(client, STAFF.name)
    response = await client.post(
        "/console/compose/preview",
        json={**FORM, "category": "tourism", "accounts": ["kodaira_x", "kodaira_facebook", "kodaira_youtube"],
              "title": "小平ぶどう狩りのご案内", "text": "ぶどう狩りの季節です。市内の農園でお楽しみください。"},
        headers={"Accept": "application/json", "X-CSRF-Token": token})
    posts = {p["account"]: p for p in (await response.json())["posts"]}
    assert posts["kodaira_x"]["title"] is None
    assert posts["kodaira_facebook"]["title"] is None
    assert posts["kodaira_youtube"]["title"] == "小平ぶどう狩りのご案内"
