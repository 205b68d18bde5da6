"""Scopes the tests' users act with: the five seed cities by name (never a global scope for a person)."""

from __future__ import annotations

from gateway.models import Scope

CITIES = ("atsugi", "kisarazu", "kodaira", "mine", "zushi")
ALL_CITIES = Scope.of(*CITIES)
EVERYWHERE = Scope.everywhere()
