"""Encrypted credential store: round trip, no clear text at rest, key rotation, masking, history."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from pydantic import SecretStr

from gateway import credentials as credentials_module
from gateway.credentials import (
    EncryptedCredentialFile,
    StaticCredentials,
    keys_from,
    new_key,
    parse_keys,
    platform_of,
    required_fields,
    validate_fields,
)
from gateway.errors import AuthError, InputError
from gateway.models import Platform
from gateway.settings import Settings

SECRET = "LINE-channel-token-0123456789-very-secret"
X_FIELDS = {
    "consumer_key": "ck-aaaaaaaaaaaa", "consumer_secret": "cs-bbbbbbbbbbbbbbbb",
    "access_token": "at-cccccccccccccc", "access_token_secret": "ats-dddddddddddddd", "user_id": "uid-987654321",
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, key: str, clock: Clock) -> EncryptedCredentialFile:
    return EncryptedCredentialFile(tmp_path / "var" / "credentials.enc", parse_keys(key), clock=clock)


def test_round_trip(store: EncryptedCredentialFile, tmp_path: Path, key: str) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="suzuki", reason="初期登録")
    got = store.get("kodaira_line")
    assert isinstance(got["channel_access_token"], SecretStr)
    assert got["channel_access_token"].get_secret_value() == SECRET
    # A second instance (another process) reads the same file.
    again = EncryptedCredentialFile(store.path, parse_keys(key))
    assert again.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET


def test_a_running_process_picks_up_a_rotation_made_by_another(
    store: EncryptedCredentialFile, key: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="suzuki", reason="初期登録")
    running = EncryptedCredentialFile(store.path, parse_keys(key))
    assert running.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET
    store.set("kodaira_line", {"channel_access_token": SECRET + "-new"}, actor="suzuki", reason="更新")
    # Publishes look at the file at most once a second: until then the copy already read serves.
    assert running.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET
    monkeypatch.setattr(credentials_module, "RECHECK_SECONDS", 0.0)
    assert running.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET + "-new"
    assert running.list_masked()[0]["account"] == "kodaira_line"  # listings always look


def test_unknown_account_is_an_auth_error(store: EncryptedCredentialFile) -> None:
    with pytest.raises(AuthError, match="登録されていません"):
        store.get("kodaira_x")
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    with pytest.raises(AuthError) as caught:
        store.get("kodaira_x")
    assert caught.value.code == "no_credentials"


def test_file_holds_no_clear_text_and_is_private(store: EncryptedCredentialFile) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="suzuki", reason="初期登録")
    store.set("kodaira_x", X_FIELDS, actor="suzuki", reason="初期登録")
    raw = store.path.read_bytes()
    for needle in (SECRET, "channel_access_token", "kodaira_line", "suzuki", X_FIELDS["consumer_secret"]):
        assert needle.encode() not in raw
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert not [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_repr_shows_no_secret(store: EncryptedCredentialFile, key: str) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    text = repr(store) + repr(store.get("kodaira_line")) + str(store.get("kodaira_line"))
    assert SECRET not in text and key not in text


def test_key_rotation_without_downtime(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    path = tmp_path / "credentials.enc"
    EncryptedCredentialFile(path, parse_keys(old)).set(
        "kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    both = EncryptedCredentialFile(path, parse_keys(f"{new},{old}"))
    assert both.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET  # old file readable
    both.rotate()
    new_only = EncryptedCredentialFile(path, parse_keys(new))
    assert new_only.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET
    with pytest.raises(InputError, match="復号できません"):
        EncryptedCredentialFile(path, parse_keys(old)).list_masked()


def test_writes_use_the_first_key(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    path = tmp_path / "credentials.enc"
    EncryptedCredentialFile(path, parse_keys(f"{new},{old}")).set(
        "kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    assert EncryptedCredentialFile(path, parse_keys(new)).get("kodaira_line")


def test_wrong_key_is_a_clear_error(store: EncryptedCredentialFile, tmp_path: Path) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    wrong = EncryptedCredentialFile(store.path, parse_keys(new_key()))
    with pytest.raises(InputError) as caught:
        wrong.list_masked()
    assert caught.value.code == "credentials_key_mismatch"
    assert "暗号鍵が違う" in caught.value.message and str(store.path) in caught.value.message
    with pytest.raises(InputError):
        wrong.set("kodaira_line", {"channel_access_token": "x"}, actor="a", reason="r")
    # Adapters see the publish error tree: a person must act.
    with pytest.raises(AuthError, match="復号できません"):
        wrong.get("kodaira_line")


def test_corrupt_file_is_a_clear_error(store: EncryptedCredentialFile) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(b"not a fernet token")
    with pytest.raises(InputError, match="復号できません"):
        store.list_masked()


def test_list_masked(store: EncryptedCredentialFile, clock: Clock) -> None:
    store.set("kodaira_x", X_FIELDS, actor="suzuki", reason="初期登録")
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="suzuki", reason="初期登録")
    clock.now += timedelta(days=40, hours=3)
    store.set("kodaira_line", {"channel_access_token": SECRET + "2"}, actor="sato", reason="定期変更")
    clock.now += timedelta(days=2)
    rows = store.list_masked()
    assert [r["account"] for r in rows] == ["kodaira_line", "kodaira_x"]
    line, x = rows
    assert line["fields"] == {"channel_access_token": "LINE…(42)"}
    assert line["age_days"] == 2 and line["history_length"] == 2
    assert x["age_days"] == 42 and x["history_length"] == 1
    assert x["field_names"] == sorted(X_FIELDS)
    assert x["platform"] == "x"
    dumped = json.dumps(rows, ensure_ascii=False)
    assert SECRET not in dumped and X_FIELDS["consumer_secret"] not in dumped


def test_history_names_fields_never_values(store: EncryptedCredentialFile, clock: Clock) -> None:
    store.set("kodaira_x", X_FIELDS, actor="suzuki", reason="初期登録")
    clock.now += timedelta(days=1)
    rotated = {**X_FIELDS, "access_token": "at-new-token-zzzz", "access_token_secret": "ats-new-secret-yyyy"}
    store.set("kodaira_x", rotated, actor="sato", reason="担当者異動による変更")
    history = store.history("kodaira_x")
    assert [h["actor"] for h in history] == ["suzuki", "sato"]
    assert history[0]["fields"] == sorted(X_FIELDS)
    assert history[1]["fields"] == ["access_token", "access_token_secret"]
    assert history[1]["reason"] == "担当者異動による変更"
    assert history[1]["at"] == clock.now.isoformat()
    dumped = json.dumps(history, ensure_ascii=False)
    for value in (*X_FIELDS.values(), *rotated.values()):
        assert value not in dumped


def test_set_requires_actor_and_reason(store: EncryptedCredentialFile) -> None:
    with pytest.raises(InputError, match="reason"):
        store.set("kodaira_line", {"channel_access_token": SECRET}, actor="a", reason=" ")
    assert not store.path.exists()


def test_delete(store: EncryptedCredentialFile) -> None:
    store.set("kodaira_line", {"channel_access_token": SECRET}, actor="a", reason="r")
    store.delete("kodaira_line", actor="a", reason="乗っ取り対応")
    with pytest.raises(AuthError):
        store.get("kodaira_line")


def test_missing_fields_rejected(store: EncryptedCredentialFile) -> None:
    partial = {k: v for k, v in X_FIELDS.items() if k != "access_token_secret"}
    with pytest.raises(InputError) as caught:
        store.set("kodaira_x", partial, actor="a", reason="r")
    assert "access_token_secret" in caught.value.message
    assert [p.field for p in caught.value.problems] == ["access_token_secret"]
    assert not store.path.exists()
    with pytest.raises(InputError, match="page_access_token"):
        store.set("kodaira_facebook", {"page_id": "1"}, actor="a", reason="r")
    with pytest.raises(InputError, match="channel_access_token"):
        store.set("kodaira_line", {"channel_access_token": "  "}, actor="a", reason="r")


def test_required_fields_per_platform() -> None:
    assert required_fields(Platform.LINE) == (("channel_access_token",),)
    assert required_fields("facebook") == (("page_id", "page_access_token"),)
    assert set(required_fields("youtube")[0]) == {
        "access_token", "refresh_token", "client_id", "client_secret", "channel_id"}
    validate_fields("x", {"bearer_token": "b", "user_id": "1"})  # OAuth 2 user token
    validate_fields("x", X_FIELDS)
    with pytest.raises(InputError, match="user_id"):
        validate_fields("x", {"bearer_token": "b"})
    with pytest.raises(InputError, match="文字列"):
        validate_fields("x", {**X_FIELDS, "user_id": 12345})
    with pytest.raises(InputError, match="プラットフォーム"):
        validate_fields("myspace", {})


def test_platform_of_account_id() -> None:
    assert platform_of("atsugi_live_youtube") is Platform.YOUTUBE
    assert platform_of("kodaira_mayor_x") is Platform.X
    with pytest.raises(InputError):
        platform_of("kodaira_fax")


def test_keys_from_settings(tmp_path: Path) -> None:
    first, second = new_key(), new_key()
    keys = keys_from(Settings(credentials_key=SecretStr(f"{first}, {second}")))
    token = Fernet(second.encode()).encrypt(b"x")
    assert keys.decrypt(token) == b"x"
    assert Fernet(first.encode()).decrypt(keys.encrypt(b"y")) == b"y"
    key_file = tmp_path / "key"
    key_file.write_text(first + "\n", encoding="ascii")
    assert isinstance(keys_from(Settings(credentials_key=None, credentials_key_file=key_file)), MultiFernet)


def test_no_key_is_a_clear_japanese_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="GATEWAY_CREDENTIALS_KEY") as caught:
        keys_from(Settings(credentials_key=None, credentials_key_file=None))
    assert "暗号鍵が設定されていません" in caught.value.message
    with pytest.raises(InputError, match="暗号鍵ファイルを読めません"):
        keys_from(Settings(credentials_key=None, credentials_key_file=tmp_path / "missing"))


def test_bad_key_does_not_echo_it() -> None:
    with pytest.raises(InputError) as caught:
        parse_keys("not-a-real-key-but-secret-looking")
    assert "not-a-real-key" not in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_static_credentials_unchanged() -> None:
    static = StaticCredentials({"kodaira_line": {"channel_access_token": SECRET}})
    assert static.get("kodaira_line")["channel_access_token"].get_secret_value() == SECRET
    with pytest.raises(AuthError):
        static.get("kodaira_x")


def test_environment_credentials_come_first_and_stay_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gateway.credentials import ChainedCredentials, EnvironmentCredentials, StaticCredentials
    from gateway.errors import AuthError
    from gateway.settings import Settings

    monkeypatch.setenv("GATEWAY_ACCOUNT_CREDENTIALS__KODAIRA_LINE__CHANNEL_ACCESS_TOKEN", "env-secret-token")
    environment = EnvironmentCredentials(Settings().account_credentials)
    chained = ChainedCredentials(environment, StaticCredentials({"kodaira_x": {"user_id": "1"},
                                                                 "kodaira_line": {"channel_access_token": "file"}}))
    assert chained.get("kodaira_line")["channel_access_token"].get_secret_value() == "env-secret-token"
    assert chained.get("kodaira_x")["user_id"].get_secret_value() == "1"
    assert "env-secret-token" not in repr(environment) + repr(chained.get("kodaira_line"))
    with pytest.raises(AuthError):
        chained.get("kodaira_facebook")
