"""`gateway demo`: the whole flow once, on a temporary database, against the sandbox platforms.

The demo runs on a simulated clock that starts at the next weekday 10:00 JST that is office hours
for every seed city, so that its routine posts go out whatever the real time is; the post
scheduled for a Saturday shows the office-hours hold. It prints the delivery table and exits 0
when every delivery reached the state the script expects.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.cli.table import delivery_table
from gateway.hours import is_open
from gateway.media import MediaStore
from gateway.models import Actor, DeliveryState, Message, Platform, Role, Scope
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings

JST = ZoneInfo("Asia/Tokyo")
DEMO_CITIES = Scope.of("atsugi", "kodaira", "kisarazu", "zushi")
STAFF = Actor("sato", Role.STAFF, DEMO_CITIES)
APPROVER = Actor("suzuki", Role.APPROVER, DEMO_CITIES)
ALERTS = Actor("jma-feed", Role.ALERT_SYSTEM, Scope.everywhere())
UNSETTLED = {DeliveryState.PLANNED, DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.RETRY_WAIT,
             DeliveryState.UNCERTAIN}


def scenario_start(runtime_policies: object, real_now: datetime) -> datetime:
    """The next weekday 10:00 JST that is inside every municipality's office hours."""
    day = real_now.astimezone(JST).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for _ in range(30):
        if all(is_open(day, m.hours) for m in runtime_policies):  # type: ignore[attr-defined]
            return day
        day += timedelta(days=1)
    raise RuntimeError("no common office day within 30 days")


def simulated_clock(start: datetime) -> Callable[[], datetime]:
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def _messages(start: datetime, media: MediaStore) -> list[tuple[str, Message, Actor]]:
    # Stored exactly as `POST /api/v1/media` stores an upload, and named by the id it returns.
    video = media.add(b"\x00\x00\x00\x18ftypmp42" + bytes(300_000))
    image = media.add(b"\x89PNG\r\n\x1a\n" + bytes(2048))
    saturday = start + timedelta(days=(5 - start.weekday()) % 7 or 7)
    return [
        ("event", Message(
            municipality="kodaira", accounts=("kodaira_x", "kodaira_facebook"), category="event",
            text="小平市民まつりを11月29日（日）に中央公園で開催します。ステージ発表や模擬店をお楽しみください。",
            link="https://www.city.kodaira.tokyo.jp/", media=(),
        ), STAFF),
        ("tour video", Message(
            municipality="kodaira", accounts=("kodaira_youtube",), category="tourism",
            title="小平グリーンロードの紅葉", text="小平グリーンロードの紅葉を動画でご紹介します。",
            media=({"kind": "video", "id": video.id},),
        ), STAFF),
        ("garbage", Message(
            municipality="kisarazu", category="city_news",
            text="年末年始のごみ収集日程をお知らせします。12月31日から1月3日までは収集がありません。",
            link="https://www.city.kisarazu.lg.jp/", accounts=("kisarazu_x", "kisarazu_facebook", "kisarazu_line"),
            media=({"kind": "image", "id": image.id, "alt_text": "年末年始のごみ収集日程を示したカレンダー",
                    "url": "https://www.city.kisarazu.lg.jp/images/gomi-calendar.png"},),
        ), STAFF),
        ("instagram photo", Message(
            municipality="atsugi", accounts=("atsugi_instagram",), category="tourism",
            text="あつぎ鮎まつりの大花火大会の様子です。来年もお楽しみに。",
            media=({"kind": "image", "id": image.id, "alt_text": "相模川の夜空に大きく開いた花火と、河原で見上げる人々",
                    "url": "https://www.city.atsugi.kanagawa.jp/images/hanabi.png"},),
        ), STAFF),
        ("website notice", Message(
            municipality="zushi", category="city_news", preauthorized="on_website",
            text="市ホームページに令和8年度の市民講座の案内を掲載しました。",
            link="https://www.city.zushi.lg.jp/",
        ), STAFF),
        ("held (Saturday)", Message(
            municipality="kodaira", accounts=("kodaira_x",), category="event",
            text="来週の図書館おはなし会の参加者を募集しています。", not_before=saturday,
        ), STAFF),
        ("EMERGENCY", Message(
            municipality="kodaira", category="emergency", priority="emergency",
            accounts=("kodaira_x", "kodaira_facebook"),
            text="【避難指示】警戒レベル4 小平市全域に避難指示を発令しました。直ちに安全な場所へ避難してください。",
        ), ALERTS),
    ]


async def _script(runtime: Runtime, start: datetime) -> list[str]:
    gateway = runtime.gateway
    for user in (STAFF, APPROVER, ALERTS):
        await runtime.store.ensure_user(user.name, user.role, actor="demo", scope=user.scope)
    ids = []
    for label, message, actor in _messages(start, runtime.media):
        submitted = await gateway.submit(message, actor, source="demo")
        record = submitted.record
        print(f"提出 {label:<16} {record.id}  {record.state.value}  — {submitted.approval_reason}")
        if record.state.value == "pending_approval":
            approved = await gateway.approve(record.id, APPROVER)
            print(f"承認 {label:<16} {record.id}  by {APPROVER.name}  配信 {len(approved.deliveries)} 件")
        ids.append(record.id)
    return ids


async def _settle(runtime: Runtime, ids: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pending = [d for i in ids for d in await runtime.store.list_deliveries(message_id=i) if d.state in UNSETTLED]
        if not pending:
            return
        await asyncio.sleep(0.1)


async def run_demo(settings: Settings) -> int:
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as tmp:
        tmpdir = Path(tmp)
        demo_settings = settings.model_copy(update={
            "database_url": f"sqlite+aiosqlite:///{tmpdir / 'demo.db'}", "platforms": "sandbox",
            "poll_seconds": 0.2, "var_dir": tmpdir,
        })
        from gateway.policy import load_policies

        start = scenario_start(load_policies(settings.config_dir), datetime.now(JST))
        print(f"デモ（模擬時刻 {start:%Y-%m-%d %H:%M} JST から開始、一時データベース使用）")
        async with open_runtime(demo_settings, clock=simulated_clock(start)) as runtime:
            ids = await _script(runtime, start)
            await _settle(runtime, ids)
            deliveries = [d for i in ids for d in await runtime.store.list_deliveries(message_id=i)]
            print()
            print(delivery_table(deliveries))
            if runtime.sandbox is not None:
                posts = runtime.sandbox.state.live_posts()
                counts = {p.value: sum(1 for post in posts if post.platform is p) for p in Platform}
                print("\nサンドボックスに届いた投稿: " + "、".join(f"{k} {v}件" for k, v in counts.items()))
            return _verdict(deliveries)


def _verdict(deliveries: list) -> int:  # type: ignore[type-arg]
    unsettled = [d for d in deliveries if d.state in UNSETTLED or d.state is DeliveryState.FAILED]
    held = [d for d in deliveries if d.state is DeliveryState.HELD]
    emergency_sent = [d for d in deliveries if d.priority.value == "emergency" and d.state is DeliveryState.SENT]
    if unsettled or not held or not emergency_sent:
        print(f"\n期待どおりに終わりませんでした: 未完了/失敗 {len(unsettled)} 件、保留 {len(held)} 件、"
              f"緊急送信 {len(emergency_sent)} 件")
        return 1
    print(f"\n完了: 保留 {len(held)} 件（勤務時間外）、緊急情報 {len(emergency_sent)} 件を即時送信")
    return 0
