"""Server-side page numbers for the console's lists: which page was asked for, and the links around it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from gateway.errors import FieldProblem, InputError
from gateway.models import ascii_digits

MAX_PAGE = 100_000


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1") or "1"
    if not ascii_digits(raw) or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        raise InputError("ページ番号が正しくありません", [FieldProblem("page", "invalid", "1以上の整数にしてください")])
    return int(raw)


@dataclass(frozen=True)
class Pages:
    """Page `number` of `total` rows, `size` a page; `links` carry the request's other query parameters."""

    number: int
    total: int
    size: int
    base: str  # the path and the query without `page`, ending in `?` or `&`

    @classmethod
    def of(cls, request: web.Request, number: int, total: int, size: int) -> Pages:
        rest = [(k, v) for k, v in request.query.items() if k not in ("page", "notice")]
        return cls(number, total, size, f"{request.path}?{urlencode(rest)}{'&' if rest else ''}")

    @property
    def count(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_row(self) -> int:
        return min(self.total, (self.number - 1) * self.size + 1)

    @property
    def last_row(self) -> int:
        return min(self.total, self.number * self.size)

    def url(self, number: int) -> str:
        return f"{self.base}page={number}"

    def shown(self) -> list[int | None]:
        """The page numbers to link: the first, the last and two either side of this one (None: a gap)."""
        wanted = sorted({1, self.count, *range(max(1, self.number - 2), min(self.count, self.number + 2) + 1)})
        out: list[int | None] = []
        for n in wanted:
            if out and out[-1] is not None and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out
