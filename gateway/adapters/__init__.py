"""Platform adapters, registered in a plain dict by platform."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.adapters.base import Adapter, IdempotencyKey, Progress
from gateway.credentials import CredentialSource
from gateway.media import MediaStore
from gateway.models import PLATFORM_SPECS, Limits, Platform
from gateway.policy import Account
from gateway.settings import Settings

__all__ = ["Adapter", "IdempotencyKey", "Limits", "Progress", "adapter_types", "build_adapters"]


def adapter_types() -> dict[Platform, Any]:
    """Platform -> adapter class (imported here so that importing gateway.adapters stays cheap)."""
    from gateway.adapters.facebook import FacebookAdapter
    from gateway.adapters.instagram import InstagramAdapter
    from gateway.adapters.line import LineAdapter
    from gateway.adapters.x import XAdapter
    from gateway.adapters.youtube import YoutubeAdapter

    return {Platform.X: XAdapter, Platform.LINE: LineAdapter, Platform.FACEBOOK: FacebookAdapter,
            Platform.YOUTUBE: YoutubeAdapter, Platform.INSTAGRAM: InstagramAdapter}


# Platforms whose adapters upload files, and so read them, always through the media store; the others
# (LINE, Instagram) send public HTTPS addresses that the platform fetches, never file bytes.
FILE_UPLOADERS = frozenset(p for p, declared in PLATFORM_SPECS.items() if not declared.fetched_media)


def build_adapters(
    settings: Settings, credentials: CredentialSource, accounts: Mapping[str, Account], media: MediaStore,
) -> dict[Platform, Adapter]:
    """One adapter per platform, each pointed at its base URL from settings."""
    per_platform: dict[Platform, Any] = {
        Platform.X: settings.x, Platform.LINE: settings.line, Platform.FACEBOOK: settings.facebook,
        Platform.YOUTUBE: settings.youtube, Platform.INSTAGRAM: settings.instagram,
    }
    return {
        platform: cls(per_platform[platform], credentials, accounts,
                      **({"media": media} if platform in FILE_UPLOADERS else {}))
        for platform, cls in adapter_types().items()
    }


def build_connectors(settings: Settings, clock: Any) -> dict[Platform, Any]:
    """Platform -> its Connector (gateway.connections): how a city admin connects an account from the console."""
    from gateway.adapters.facebook_connect import FacebookConnector, InstagramConnector
    from gateway.adapters.line_connect import LineConnector
    from gateway.adapters.x_connect import XConnector
    from gateway.adapters.youtube_connect import YoutubeConnector

    return {Platform.X: XConnector(settings.x, clock), Platform.LINE: LineConnector(settings.line, clock),
            Platform.FACEBOOK: FacebookConnector(settings.facebook, clock),
            Platform.INSTAGRAM: InstagramConnector(settings.facebook, clock),
            Platform.YOUTUBE: YoutubeConnector(settings.youtube, clock)}
