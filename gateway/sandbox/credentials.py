"""The credentials the sandbox platforms accept, derived from account ids.

`gateway sandbox` prints them; `serve --platforms sandbox` and `demo` hand the same to the real
adapters, so the adapters authenticate exactly as they would against the live platforms.
"""

from __future__ import annotations

import functools
import hashlib

from gateway.models import Platform

SANDBOX_SECRET = "koho-sandbox"


def _token(account_id: str, purpose: str, length: int = 32) -> str:
    return hashlib.sha256(f"{SANDBOX_SECRET}:{account_id}:{purpose}".encode()).hexdigest()[:length]


def sandbox_user_id(account_id: str) -> str:
    """A stable numeric id for the account's user/page/channel on the sandbox platform."""
    return str(int(_token(account_id, "uid", 12), 16))


def sandbox_app_client(platform: Platform) -> tuple[str, str]:
    """The gateway's app registration (client id, client secret) that the sandbox's OAuth endpoints accept."""
    return _token(f"app:{platform.value}", "client_id", 24), _token(f"app:{platform.value}", "client_secret", 40)


def sandbox_credentials(account_id: str, platform: Platform) -> dict[str, str]:
    """The credential fields of DESIGN.md for this account on the sandbox."""
    return dict(_credentials(account_id, platform))


@functools.lru_cache(maxsize=65536)
def _credentials(account_id: str, platform: Platform) -> dict[str, str]:
    # Each request the sandbox authenticates looks these up; hashing them anew every time made
    # the sandbox, not the gateway, the bottleneck of a 1,741-municipality benchmark.
    uid = sandbox_user_id(account_id)
    if platform is Platform.X:
        return {
            "consumer_key": _token(account_id, "ck", 25),
            "consumer_secret": _token(account_id, "cs", 50),
            "access_token": f"{uid}-{_token(account_id, 'at', 40)}",
            "access_token_secret": _token(account_id, "ats", 45),
            "user_id": uid,
            # An OAuth 2.0 user-context token: adapters given only this (and user_id) use Bearer.
            "bearer_token": _token(account_id, "bearer", 64),
        }
    if platform is Platform.LINE:
        # The channel id and secret issue channel access tokens (POST /v2/oauth/accessToken).
        return {"channel_access_token": _token(account_id, "line", 64),
                "channel_id": str(1_600_000_000 + int(_token(account_id, "chid", 6), 16)),
                "channel_secret": _token(account_id, "chsec", 32)}
    if platform is Platform.FACEBOOK:
        return {"page_id": uid, "page_access_token": "EAA" + _token(account_id, "fb", 60)}
    if platform is Platform.YOUTUBE:
        return {
            "access_token": "ya29." + _token(account_id, "yt", 60),
            "refresh_token": "1//" + _token(account_id, "ytr", 40),
            "client_id": f"{_token(account_id, 'cid', 12)}.apps.googleusercontent.com",
            "client_secret": _token(account_id, "csec", 24),
            "channel_id": "UC" + _token(account_id, "ch", 22),
        }
    if platform is Platform.INSTAGRAM:
        return {"ig_user_id": uid, "access_token": "EAAI" + _token(account_id, "ig", 60)}
    return {}
