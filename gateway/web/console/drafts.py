"""下書き: the viewer's drafts (an admin's: everyone's in the admin's cities), to edit, submit or delete."""

from __future__ import annotations

from aiohttp import web

from gateway.services.drafts import Drafts
from gateway.services.messages import Gateway
from gateway.web.console.context import Viewer, render
from gateway.web.console.posts import shortened


async def page(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    drafts = await Drafts(gw).list(viewer.actor)
    names = {m.id: m.name for m in gw.policies}
    return render(request, "drafts.html", viewer, drafts=drafts, city_names=names, shortened=shortened,
                  notice=request.query.get("notice"))


async def delete(request: web.Request, gw: Gateway, viewer: Viewer) -> web.StreamResponse:
    await Drafts(gw).delete(request.match_info["id"], viewer.actor)
    raise web.HTTPSeeOther("/console/drafts?notice=deleted")
