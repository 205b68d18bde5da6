"""Platform adapters, registered in a plain dict by platform."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gateway.adapters.base import Adapter, IdempotencyKey, Progress
from gateway.credentials import CredentialSource
from gateway.media import MediaStore
from gateway.models import PLATFORM_SPECS, Limits, Platform
from gateway.policy import Account
from gateway.settings import PlatformSettings, Settings, settings_error

__all__ = ["Adapter", "IdempotencyKey", "Limits", "Progress", "adapter_types", "build_adapters", "platform_settings"]


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


def platform_settings(settings: Settings, platform: Platform) -> PlatformSettings:
    """`platform`'s section of the settings, read by the settings class its adapter declares (defaults filled in).
    A bad value is refused naming the environment variable it came from."""
    kind: type[PlatformSettings] = adapter_types()[platform].settings_type
    try:
        return kind.model_validate(settings.platform_section(platform.value))
    except ValidationError as exc:
        raise settings_error(exc, f"GATEWAY_{platform.value.upper()}__") from None


def build_adapters(
    settings: Settings, credentials: CredentialSource, accounts: Mapping[str, Account], media: MediaStore,
) -> dict[Platform, Adapter]:
    """One adapter per platform, each pointed at its base URL from settings."""
    return {
        platform: cls(platform_settings(settings, platform), credentials, accounts,
                      **({"media": media} if platform in FILE_UPLOADERS else {}))
        for platform, cls in adapter_types().items()
    }


def build_connectors(settings: Settings, clock: Any) -> dict[Platform, Any]:
    """Platform -> its Connector (gateway.connections): how a city admin connects an account from the console."""
    from gateway.adapters.facebook_connect import FacebookConnector, InstagramConnector
    from gateway.adapters.line_connect import LineConnector
    from gateway.adapters.x_connect import XConnector
    from gateway.adapters.youtube_connect import YoutubeConnector

    def of(platform: Platform) -> Any:  # each adapter's own settings class, as its connector takes it
        return platform_settings(settings, platform)

    facebook = of(Platform.FACEBOOK)  # Instagram accounts connect through Facebook Login
    return {Platform.X: XConnector(of(Platform.X), clock), Platform.LINE: LineConnector(of(Platform.LINE), clock),
            Platform.FACEBOOK: FacebookConnector(facebook, clock),
            Platform.INSTAGRAM: InstagramConnector(facebook, clock),
            Platform.YOUTUBE: YoutubeConnector(of(Platform.YOUTUBE), clock)}
