"""予約・配信カレンダー (`/console/calendar`): scheduled and sent posts by day, a month or a week at a time,
per city and account, each at the time it goes or went out and, when it waits, why (a 予約, the city's
hours window, a stop)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from aiohttp import web

from gateway.access import require_account_id, require_city
from gateway.errors import FieldProblem, InputError
from gateway.models import Delivery, DeliveryState
from gateway.services.messages import Gateway
from gateway.store.listings import DeliveryQuery
from gateway.store.records import MessageRecord
from gateway.web.console.approvals import held_reasons
from gateway.web.console.context import Viewer, render
from gateway.web.console.labels import JST
from gateway.web.console.posts import filter_options, shortened

LIMIT = 2000  # entries a page shows; more are counted and the page says so
WEEKDAYS = "月火水木金土日"
# Not on a calendar: nothing went or goes out.
HIDDEN = (DeliveryState.SKIPPED, DeliveryState.CANCELLED)


@dataclass(frozen=True)
class Entry:
    delivery: Delivery
    at: datetime  # JST
    text: str
    title: str | None
    why: str | None  # why it waits, for a held delivery

    @property
    def waiting(self) -> bool:
        return self.delivery.state is DeliveryState.HELD


@dataclass(frozen=True)
class Span:
    view: str  # "month" | "week"
    anchor: date
    first: date  # first day shown (a Monday)
    days: int

    @classmethod
    def of(cls, view: str, anchor: date) -> Span:
        if view == "week":
            monday = anchor - timedelta(days=anchor.weekday())
            return cls(view, anchor, monday, 7)
        start = anchor.replace(day=1)
        monday = start - timedelta(days=start.weekday())
        end = (start + timedelta(days=32)).replace(day=1)
        weeks = -(-((end - monday).days) // 7)
        return cls(view, anchor, monday, weeks * 7)

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), JST)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.first + timedelta(days=self.days), time(), JST)

    def shifted(self, step: int) -> date:
        if self.view == "week":
            return self.anchor + timedelta(days=7 * step)
        month = self.anchor.month - 1 + step
        return date(self.anchor.year + month // 12, month % 12 + 1, 1)

    @property
    def heading(self) -> str:
        if self.view == "week":
            last = self.first + timedelta(days=6)
            return f"{self.first:%Y年%-m月%-d日}（月）〜{last:%-m月%-d日}（日）"
        return f"{self.anchor:%Y年%-m月}"


def _parse(request: web.Request) -> tuple[str, date]:
    view = request.query.get("view", "month")
    if view not in ("month", "week"):
        raise InputError("表示の指定が正しくありません",
                         [FieldProblem("view", "enum", "month か week を指定してください")])
    raw = request.query.get("date", "")
    if not raw:
        return view, datetime.now(JST).date()
    try:
        return view, date.fromisoformat(raw)
    except ValueError:
        raise InputError("日付が正しくありません",
                         [FieldProblem("date", "date", "YYYY-MM-DD の形で指定してください")]) from None


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    view, anchor = _parse(request)
    span = Span.of(view, anchor)
    city, account = request.query.get("municipality", ""), request.query.get("account", "")
    if city:
        if gw.policies.get(city) is None:
            raise InputError("自治体が不明です", [FieldProblem("municipality", "unknown", "一覧から選んでください")])
        require_city(viewer.actor, city, "この自治体の予定の閲覧")
    if account:
        require_account_id(viewer.actor, gw.policies, account, "このアカウントの予定の閲覧")
    query = DeliveryQuery(scope=viewer.actor.scope, municipality=city or None, account=account or None,
                          states=tuple(s for s in DeliveryState if s not in HIDDEN))
    found = await gw.deliveries_between(query, span.start, span.end, limit=LIMIT + 1)
    entries = await _entries(gw, found[:LIMIT])
    by_day: dict[date, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_day[entry.at.date()].append(entry)
    cities, accounts = filter_options(gw, viewer)
    return render(request, "calendar.html", viewer, span=span, by_day=by_day, weekdays=WEEKDAYS,
                  today=datetime.now(JST).date(), cities=cities, accounts=accounts, more=len(found) > LIMIT,
                  f={"municipality": city, "account": account, "view": view}, count=len(entries))


async def _entries(gw: Gateway, deliveries: list[Delivery]) -> list[Entry]:
    records: dict[str, MessageRecord] = await gw.messages_by_id({d.message_id for d in deliveries})
    reasons: dict[str, str] = {}
    waiting: dict[str, list[Delivery]] = defaultdict(list)
    for d in deliveries:
        if d.state is DeliveryState.HELD:
            waiting[d.message_id].append(d)
    for same in waiting.values():  # why each waits, as planning recorded it
        reasons.update(await held_reasons(gw, same))
    out = []
    for d in deliveries:
        record = records.get(d.message_id)
        when = d.sent_at or d.not_before or d.created_at
        out.append(Entry(d, when.astimezone(JST), shortened(record.body.text, 60) if record else "",
                         record.body.title if record else None, reasons.get(d.id)))
    return out
