"""Signing a test client in to the console as one of the harness's users (password set by the test)."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"


async def login(client: TestClient, name: str) -> str:
    """Sign in afresh as `name`; returns the CSRF token of the page signed in to."""
    client.session.cookie_jar.clear()
    page = await client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert csrf
    response = await client.post("/console/login", data={"user": name, "password": PASSWORD, "next": "/console/",
                                                         "csrf": csrf.group(1)})
    assert response.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await response.text())
    assert found
    return found.group(1)
