"""Each platform's settings section (`GATEWAY_<PLATFORM>__<KEY>`, or a `[<platform>]` table in the settings
file) is read by the settings class its adapter declares; the names in DESIGN.md keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters import platform_settings
from gateway.adapters.facebook import FacebookSettings
from gateway.adapters.instagram import InstagramSettings
from gateway.adapters.x import XSettings
from gateway.errors import InputError
from gateway.models import Platform
from gateway.runtime import sandbox_settings
from gateway.settings import Settings


def test_environment_variables_reach_the_platforms_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_X__BASE_URL", "http://x.internal:8443")
    monkeypatch.setenv("GATEWAY_X__TIMEOUT_S", "3.5")
    monkeypatch.setenv("GATEWAY_INSTAGRAM__MAX_POLLS", "7")
    settings = Settings()
    x = platform_settings(settings, Platform.X)
    assert isinstance(x, XSettings)
    assert (x.base_url, x.timeout_s, x.web_url) == ("http://x.internal:8443", 3.5, "https://x.com")
    instagram = platform_settings(settings, Platform.INSTAGRAM)
    assert isinstance(instagram, InstagramSettings) and instagram.max_polls == 7
    assert platform_settings(settings, Platform.LINE).base_url == "https://api.line.me"  # its adapter's default


def test_the_settings_file_takes_the_same_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "gateway.toml"
    file.write_text('[facebook]\nbase_url = "http://graph.internal"\napi_version = "v27.0"\n', encoding="utf-8")
    monkeypatch.setenv("GATEWAY_SETTINGS_FILE", str(file))
    monkeypatch.setenv("GATEWAY_FACEBOOK__TIMEOUT_S", "9")  # the environment wins, key by key
    facebook = platform_settings(Settings(), Platform.FACEBOOK)
    assert isinstance(facebook, FacebookSettings)
    assert (facebook.base_url, facebook.timeout_s, facebook.api_version) == ("http://graph.internal", 9.0, "v27.0")


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_YOUTUBE__TIMEOUT_S", "-1")
    with pytest.raises(InputError) as refused:
        platform_settings(Settings(), Platform.YOUTUBE)
    assert refused.value.code == "settings_invalid"
    assert [p.field for p in refused.value.problems] == ["GATEWAY_YOUTUBE__TIMEOUT_S"]


def test_sandbox_mode_points_every_platform_at_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_X__TIMEOUT_S", "4")
    moved = sandbox_settings(Settings(), "http://127.0.0.1:8090")
    for platform in Platform:
        assert platform_settings(moved, platform).base_url.startswith("http://127.0.0.1:8090")
    x = platform_settings(moved, Platform.X)
    assert isinstance(x, XSettings) and x.timeout_s == 4.0 and x.web_url == "http://127.0.0.1:8090/_sandbox/open/x"
