"""Opaque keyset cursors for the API's pages: the (created_at, id) of the last row already given."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from aiohttp import web

from gateway.errors import FieldProblem, InputError

MAX_CURSOR_CHARS = 200


class Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


_K = TypeVar("_K", bound=Keyed)


def paged(found: Sequence[_K], limit: int) -> tuple[Sequence[_K], str | None]:
    """A page from `limit + 1` rows read, and the cursor of the next page (None: this is the last)."""
    page = found[:limit]
    return page, make_cursor(page[-1].created_at, page[-1].id) if len(found) > limit else None


def make_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(request: web.Request) -> tuple[datetime, str] | None:
    """The `cursor` query parameter, or None; a cursor this API did not give is `400 invalid`."""
    raw = request.query.get("cursor") or ""
    if not raw:
        return None
    try:
        if len(raw) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        created, row_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not isinstance(row_id, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        problem = FieldProblem("cursor", "invalid", "前のページの next_cursor をそのまま指定してください")
        raise InputError("cursor が正しくありません", [problem]) from None
    return at, row_id
