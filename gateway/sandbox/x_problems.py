"""X's error documents (RFC 7807 problem documents, always `application/json`, which tweepy needs)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank",
             "title": "Forbidden", "status": 403}


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


class Problem(Exception):
    """An X error answer, raised from deep in a handler and answered by the route wrapper."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.response = problem_response(status, body, headers)


def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> Problem:
    return Problem(status, {"title": title, "detail": detail, "type": kind, "status": status})


def invalid(parameter: str, value: Any, message: str) -> Problem:
    """X's 400 document for a bad parameter."""
    return Problem(400, {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })
