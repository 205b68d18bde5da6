"""A form cites the clauses of the post's or account's own city, never another's (issue 16): the correction
notice named 逗子市 3-5(1) for every city, the accounts page 木更津 and 逗子 for every viewer."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from gateway.pipeline.intake.validation import parse_message
from tests.integration.conftest import APPROVER, STAFF, Harness
from tests.integration.test_console import app, client, login  # noqa: F401  (fixtures)


async def _sent(harness: Harness, city: str, account: str) -> str:
    submitted = await harness.gateway.submit(parse_message({
        "municipality": city, "category": "event", "accounts": [account],
        "text": "市民まつりを中央公園で開催します。ぜひお越しください。"}), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    return submitted.record.id


async def test_the_correction_notice_cites_the_posts_own_city(harness: Harness, client: TestClient) -> None:  # noqa: F811
    await login(client, STAFF.name)
    kodaira = await (await client.get(f"/console/compose?correction_of={await _sent(harness, 'kodaira', 'kodaira_x')}")).text()
    assert "「市民まつりを中央公園で開催します。ぜひお越しください。」の訂正です" in kodaira
    assert "逗子" not in kodaira.split("の訂正です")[1].split("</p>")[0]
    zushi = await (await client.get(f"/console/compose?correction_of={await _sent(harness, 'zushi', 'zushi_x')}")).text()
    assert "逗子市ソーシャルメディア利活用ガイドライン 3-5(1)" in zushi


async def test_each_account_card_cites_its_own_citys_rules(client: TestClient) -> None:  # noqa: F811
    await login(client, STAFF.name)
    page = await (await client.get("/console/accounts?municipality=kodaira")).text()
    assert "小平市ソーシャルメディア運用ポリシー 3(1)" in page  # kodaira's credentials clause
    cards = page.split('<section class="account-card', 1)[1]
    assert "木更津" not in cards and "逗子市" not in cards
    assert "木更津" not in page.split("<h1>", 1)[1].split("<form", 1)[0]  # the page's own words


async def test_deliveries_name_the_post_and_account_in_words_with_a_thumbnail(harness: Harness,
                                                                              client: TestClient) -> None:  # noqa: F811
    from tests.mediafiles import PNG

    stored = harness.gateway.media.add(PNG)
    submitted = await harness.gateway.submit(parse_message({
        "municipality": "kodaira", "category": "event", "accounts": ["kodaira_x"], "title": "小平市民まつり",
        "text": "中央公園で開催します。", "media": [{"kind": "image", "id": stored.id, "alt_text": "会場の地図"}]}), STAFF)
    await harness.gateway.approve(submitted.record.id, APPROVER)
    await login(client, STAFF.name)
    page = await (await client.get("/console/deliveries")).text()
    row = page.split('data-id="', 1)[1].split("</tr>", 1)[0]
    assert ">小平市民まつり</a>" in row and submitted.record.id + "</a>" not in row
    assert f'src="/console/media/{stored.id}"' in row and 'alt="会場の地図"' in row
    assert "小平市 X" in row and 'title="kodaira_x"' in row


async def test_the_viewers_cities_are_named_not_ided(client: TestClient) -> None:  # noqa: F811
    await login(client, STAFF.name)
    home = await (await client.get("/console/")).text()
    assert "小平市" in home.split('class="who"', 1)[1].split("</span>", 1)[0]
    assert "kodaira" not in home.split("担当範囲:", 1)[1].split("</p>", 1)[0]


async def test_a_posts_page_names_it_by_its_words_and_its_city_by_name(harness: Harness,
                                                                       client: TestClient) -> None:  # noqa: F811
    message_id = await _sent(harness, "kodaira", "kodaira_x")
    await login(client, STAFF.name)
    page = await (await client.get(f"/console/messages/{message_id}")).text()
    heading = page.split(f'id="m-{message_id}"', 1)[1].split("</h", 1)[0]
    assert ">市民まつりを中央公園で開催します。ぜひお越しください。</a>" in heading
    assert f'<small class="id">{message_id}</small>' in heading  # still there for the API and the CLI
    assert "<dt>自治体</dt><dd>小平市</dd>" in page
