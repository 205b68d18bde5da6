"""Drafts: posts staff save without submitting, seen by their author (and admins) only.

Saving checks nothing but the message's shape and the author's scope (the preview still shows what the
checks would say); submitting a draft is `Gateway.submit` with the draft deleted in the same transaction,
so a draft is never planned, never in an approver's queue, and never left behind by its own post.
"""

from __future__ import annotations

from gateway.access import require_accounts, require_city
from gateway.errors import NotFound
from gateway.models import Actor, Message, Role
from gateway.services.messages import Gateway, Submitted
from gateway.store.records import Draft


class Drafts:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.store = gateway.store

    async def save(self, body: Message, actor: Actor, draft_id: str | None = None) -> Draft:
        """A new draft, or (`draft_id`) a draft of the actor's replaced."""
        require_accounts(actor, body.municipality, body.accounts or (), "この自治体への投稿")
        if draft_id is None:
            return await self.store.add_draft(body, author=actor.name)
        await self.read(draft_id, actor, editing=True)
        return await self.store.update_draft(draft_id, body, actor=actor.name)

    async def read(self, draft_id: str, actor: Actor, *, editing: bool = False) -> Draft:
        """A draft the actor may see: its author's, or any in an admin's scope (`editing`: its author's only).
        Another's draft is answered as missing: its existence is the author's business."""
        draft = await self.store.get_draft(draft_id)
        require_city(actor, draft.municipality, "この下書きの閲覧")
        if draft.author != actor.name and (editing or actor.role is not Role.ADMIN):
            raise NotFound(f"下書きが見つかりません: {draft_id}")
        return draft

    async def list(self, actor: Actor) -> list[Draft]:
        """The actor's drafts; an admin's: everyone's within the admin's cities."""
        cities = actor.scope.municipalities
        if actor.role is Role.ADMIN:
            return await self.store.list_drafts(author=None, municipalities=cities)
        return await self.store.list_drafts(author=actor.name, municipalities=cities)

    async def delete(self, draft_id: str, actor: Actor) -> None:
        await self.read(draft_id, actor)
        await self.store.delete_draft(draft_id, actor=actor.name)

    async def submit(self, draft_id: str, actor: Actor, body: Message | None = None, *, source: str = "api",
                     idempotency_key: str | None = None) -> Submitted:
        """Submit the draft (or `body`, its content as edited just now): checks, approval, as any post."""
        draft = await self.read(draft_id, actor, editing=True)
        return await self.gateway.submit(body or draft.body, actor, source=source, draft_id=draft.id,
                                         idempotency_key=idempotency_key)
