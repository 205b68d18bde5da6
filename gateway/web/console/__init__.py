"""The staff web console: server-rendered Japanese pages under /console/ (see `mount`)."""

from __future__ import annotations

from gateway.web.console.routes import mount

__all__ = ["mount"]
