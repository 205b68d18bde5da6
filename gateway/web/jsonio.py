"""JSON in and out of the web layer: request bodies read with limits, responses that always encode.

A body is refused with a 400 that names why when it is not UTF-8 JSON, nests deeper than
`MAX_DEPTH` (the interpreter's recursion limit is near 1000, and every walk over a decoded value
after `json.loads` recurses), holds an integer longer than Python converts (4,300 digits), or
has text no database row can hold, in a value or a key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.errors import FieldProblem, InputError
from gateway.models import ascii_digits
from gateway.pipeline.intake.validation import require_storable

# No body the gateway reads nests deeper than 4 (a message's media item); 32 leaves room.
MAX_DEPTH = 32
BODY = "(本文)"


def loads_body(raw: bytes) -> Any:
    """Decode a request body as JSON, or raise InputError naming what is wrong with it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise _invalid(f"JSONとして読めません（{exc.lineno}行 {exc.colno}文字目）", "invalid_json") from exc
    except UnicodeDecodeError as exc:
        raise _invalid("JSONとして読めません（文字コード）", "invalid_json") from exc
    except RecursionError as exc:
        raise _too_deep() from exc
    except ValueError as exc:  # int() of more digits than sys.get_int_max_str_digits()
        raise _invalid("数値の桁数が多すぎます", "number_too_long") from exc
    if depth(data) > MAX_DEPTH:
        raise _too_deep()
    require_storable(data)
    return data


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:  # no need to walk the rest
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def dumps(value: Any) -> str:
    """JSON text with Japanese as is; \\u escapes when some string cannot be UTF-8 (a lone surrogate)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return text


async def read_json(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "text/json"):
        problem = FieldProblem("Content-Type", "unsupported_media_type", "application/json を指定してください")
        raise InputError("Content-Type は application/json にしてください", [problem])
    return loads_body(await request.read())


def object_field(data: Any, name: str, kind: type) -> Any:
    value = data.get(name) if isinstance(data, dict) else None
    if value is not None and not isinstance(value, kind):
        problem = FieldProblem(name, "invalid_type", "形式が正しくありません")
        raise InputError(f"{name} の形式が正しくありません", [problem])
    return value


def query_limit(request: web.Request) -> int:
    raw = request.query.get("limit", "500")
    if not ascii_digits(raw) or len(raw) > 4 or not 1 <= int(raw) <= 5000:
        raise InputError("limit は1〜5000の整数にしてください", [FieldProblem("limit", "invalid", "1〜5000の整数")])
    return int(raw)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _too_deep() -> InputError:
    return _invalid(f"JSONの入れ子が深すぎます（{MAX_DEPTH}段まで）", "too_deep")


def _invalid(message: str, code: str) -> InputError:
    return InputError(message, [FieldProblem(BODY, code, message)], code=code)
