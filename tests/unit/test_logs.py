"""The log redaction: secret shapes as libraries print them, and registered credential values."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from gateway.credentials import StaticCredentials
from gateway.logs import JsonFormatter, RedactingFilter, redact, redact_record

KEY = "ck4618353df233826dc64c60"
TOKEN = "191130552523092-97b2517b8bad2385fe8786e573db281da03cc65b"


@pytest.mark.parametrize(("text", "kept"), [
    (f"Collected params: [('oauth_nonce', '1580'), ('oauth_consumer_key', '{KEY}'), ('oauth_token', '{TOKEN}')]",
     "('oauth_nonce', '1580')"),
    (f"Normalized params: oauth_consumer_key={KEY}&oauth_nonce=158&oauth_token={TOKEN}&oauth_version=1.0",
     "oauth_version=1.0"),
    (f"POST&https%3A%2F%2Fapi.twitter.com%2F2%2Ftweets&oauth_consumer_key%3D{KEY}%26oauth_token%3D{TOKEN}%26x",
     "api.twitter.com"),
    (f'Authorization: OAuth oauth_consumer_key="{KEY}", oauth_token="{TOKEN}"', "Authorization: "),
    (f"{{'Authorization': 'Bearer {TOKEN}', 'User-Agent': 'tweepy'}}", "'User-Agent': 'tweepy'"),
    (f"url='https://graph.facebook.com/v26.0/1/feed?access_token={TOKEN}&fields=id'", "&fields=id"),
    (f'{{"access_token": "ya29.{TOKEN}", "expires_in": 3599}}', '"expires_in": 3599'),
    (f"refresh_token=1%2F%2F{TOKEN}&client_secret=GOCSPX-{KEY}", "refresh_token="),
    (f"Signature: {KEY}=", "Signature: "),
    (f"postgresql://gateway:{KEY}@db:5432/gateway", "@db:5432/gateway"),
])
def test_secret_shapes_are_masked(text: str, kept: str) -> None:
    masked = redact(text)
    assert KEY not in masked and TOKEN not in masked, masked
    assert kept in masked and "***" in masked


def test_ordinary_text_is_left_alone() -> None:
    text = "basic settings; the token was revoked at 10:00; access tokens rotate yearly"
    assert redact(text) == text


def test_loaded_credentials_are_masked_wherever_they_appear() -> None:
    secret = "lineChannelToken0123456789+/abc="
    StaticCredentials({"kodaira_line": {"channel_access_token": secret}, "kodaira_facebook": {"page_id": "12345678901"}})
    assert redact(f"sent with {secret} today") == "sent with *** today"
    assert redact(f"token {secret}.") == "token ***."
    StaticCredentials({"kodaira_x": {"access_token": TOKEN}})
    assert redact(f"signed as {TOKEN}. Then") == "signed as ***. Then"
    assert redact("page 12345678901") == "page 12345678901"  # ids are not secrets


def test_records_are_masked_in_message_extras_and_traceback() -> None:
    try:
        raise RuntimeError(f"400 for url ?access_token={TOKEN}")
    except RuntimeError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "call failed: %s", (f"Bearer {TOKEN}",), sys.exc_info(),
            extra={"detail": f"oauth_token={TOKEN}"})
    redact_record(record)
    RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert TOKEN not in line
    out = json.loads(line)
    assert out["msg"] == "call failed: Bearer ***" and out["detail"] == "oauth_token=***"
    assert "access_token=***" in out["exc"]


def test_a_database_fault_is_one_line_and_a_bug_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.errors import StorageFull
    from gateway.logs import log_failure

    logger = logging.getLogger("gateway.test_failure")
    with caplog.at_level(logging.ERROR, logger="gateway.test_failure"):
        try:
            raise StorageFull("ディスクに空きがありません")
        except StorageFull as exc:
            log_failure(logger, "recording failed", exc, delivery_id="d_1")
        try:
            raise ZeroDivisionError("bug")
        except ZeroDivisionError as exc:
            log_failure(logger, "recording failed", exc, delivery_id="d_2")
    full, bug = caplog.records
    assert full.exc_info is None and "storage_full" in full.getMessage() and full.delivery_id == "d_1"  # type: ignore[attr-defined]
    assert bug.exc_info is not None and bug.exc_info[0] is ZeroDivisionError
