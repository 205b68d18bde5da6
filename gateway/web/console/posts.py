"""投稿一覧: every post the viewer may see, searched and filtered in the database, a page at a time."""

from __future__ import annotations

from aiohttp import web

from gateway.access import may_see
from gateway.policy import Municipality, account_label
from gateway.services.messages import Gateway
from gateway.web.console.context import Viewer, render
from gateway.web.console.pages import Pages, page_number
from gateway.web.messages_api import message_query

PAGE_SIZE = 30
FIELDS = ("municipality", "account", "state", "category", "from", "to", "q")
SHORT_TEXT = 80


def shortened(text: str, limit: int = SHORT_TEXT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def filter_options(gw: Gateway, viewer: Viewer) -> tuple[list[Municipality], list[tuple[str, str]]]:
    """The cities and (account id, label) pairs a listing's filters offer: those the viewer may see."""
    cities = [m for m in gw.policies if viewer.actor.scope.covers(m.id)]
    return cities, [(a.id, account_label(m, a)) for m in cities for a in m.accounts
                    if may_see(viewer.actor, m.id, a.id)]


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    query = message_query(request.query, gw, viewer.actor)
    number = page_number(request)
    records = await gw.page_messages(query, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    total = await gw.count_messages(query)
    cities, accounts = filter_options(gw, viewer)
    names = {m.id: m.name for m in gw.policies}
    return render(request, "posts.html", viewer, records=records, total=total, cities=cities, accounts=accounts,
                  city_names=names, f={k: request.query.get(k, "") for k in FIELDS}, shortened=shortened,
                  pages=Pages.of(request, number, total, PAGE_SIZE))
