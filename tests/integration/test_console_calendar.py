"""予約・配信カレンダー (issue 16, `/console/calendar`): a scheduled post on the day and time it goes out with
the reason it waits, a sent post at the time it went out, month and week views, the viewer's cities only,
and bad input answered in Japanese."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.models import Message, Role, Scope
from gateway.web.console.labels import JST
from tests.integration.conftest import APPROVER, STAFF, Harness
from tests.integration.test_console import PASSWORD_HASH, app, client, login  # noqa: F401  (fixtures)

SCHEDULED = datetime(2026, 12, 8, 14, 30, tzinfo=JST)  # a Tuesday, in the harness's week after next


def _day(html: str, iso: str) -> str:
    """The calendar cell of one day."""
    match = re.search(rf'<td class="day[^"]*" data-date="{iso}">(.*?)</td>', html, re.S)
    assert match, iso
    return match.group(1)


async def _scheduled(harness: Harness, text: str, city: str = "kodaira", account: str = "kodaira_x") -> str:
    message = Message(municipality=city, accounts=[account], category="event", text=text, not_before=SCHEDULED)
    submitted = await harness.gateway.submit(message, STAFF, idempotency_key=text[:30])
    await harness.gateway.approve(submitted.record.id, APPROVER)
    return submitted.record.id


async def test_a_scheduled_post_is_on_its_day_at_its_time_with_why_it_waits(
        client: TestClient, harness: Harness) -> None:  # noqa: F811
    message_id = await _scheduled(harness, "市民まつりの出店者説明会を開きます。中央公民館で。")
    await login(client, STAFF.name)
    week = await (await client.get("/console/calendar", params={"view": "week", "date": "2026-12-09"})).text()
    assert "2026年12月7日（月）〜12月13日（日）" in week
    cell = _day(week, "2026-12-08")
    assert "14:30" in cell and f"/console/messages/{message_id}" in cell and "市民まつりの出店者説明会" in cell
    assert re.search(r'<span class="why">[^<]*指定日時', cell)  # held: the reason planning recorded
    assert f"/console/messages/{message_id}" not in _day(week, "2026-12-09")
    month = await (await client.get("/console/calendar", params={"date": "2026-12-01"})).text()
    assert f"/console/messages/{message_id}" in _day(month, "2026-12-08")
    assert 'data-date="2026-11-30"' in month and 'data-date="2027-01-03"' in month  # whole weeks, Monday first


async def test_a_sent_post_is_at_the_time_it_went_out(client: TestClient, harness: Harness) -> None:  # noqa: F811
    message = Message(municipality="kodaira", accounts=["kodaira_x"], category="event",
                      text="図書館の開館時間を延長しました。平日は夜8時までご利用いただけます。")
    submitted = await harness.gateway.submit(message, STAFF, idempotency_key="calendar-sent")
    await harness.gateway.approve(submitted.record.id, APPROVER)
    await harness.dispatcher.drain()
    await login(client, STAFF.name)
    day = harness.clock.now.astimezone(JST)
    html = await (await client.get("/console/calendar", params={"date": day.date().isoformat()})).text()
    cell = _day(html, day.date().isoformat())
    assert f"/console/messages/{submitted.record.id}" in cell and "送信済み" in cell
    assert day.strftime("%H:%M") in cell


async def test_another_citys_posts_are_not_on_the_calendar(app: web.Application, harness: Harness) -> None:  # noqa: F811
    zushi = await _scheduled(harness, "逗子海岸の清掃活動にご参加ください。軍手を配ります。", "zushi", "zushi_x")
    kodaira = await _scheduled(harness, "小平の図書館で読み聞かせ会を開きます。どなたでもどうぞ。")
    await harness.store.create_user("k-staff", Role.STAFF, Scope.of("kodaira"), actor="test",
                                    password_hash=PASSWORD_HASH)
    async with TestClient(TestServer(app)) as own:
        await login(own, "k-staff")
        html = await (await own.get("/console/calendar", params={"date": "2026-12-08"})).text()
        assert f"/console/messages/{kodaira}" in html and f"/console/messages/{zushi}" not in html
        refused = await own.get("/console/calendar", params={"municipality": "zushi", "date": "2026-12-08"})
        assert refused.status == 403 and "担当範囲外" in await refused.text()
        other = await own.get("/console/calendar", params={"account": "zushi_x", "date": "2026-12-08"})
        assert other.status == 403


async def test_bad_input_is_answered_in_japanese(client: TestClient) -> None:  # noqa: F811
    await login(client, STAFF.name)
    for params, words in (({"date": "2026-13-40"}, "日付が正しくありません"),
                          ({"view": "year"}, "表示の指定が正しくありません"),
                          ({"municipality": "nowhere"}, "自治体が不明です")):
        response = await client.get("/console/calendar", params=params)
        assert response.status == 400 and words in await response.text(), params
