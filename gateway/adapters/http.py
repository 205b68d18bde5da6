"""HTTP helpers every platform's wire code shares."""

from __future__ import annotations

from typing import Any

import aiohttp


async def json_object(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The response's JSON object; {} for an empty body, a body that is not JSON, or JSON that is not an object
    (error answers from proxies and gateways are often HTML)."""
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
