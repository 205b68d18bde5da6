"""The city TOML's [notifications] table: what loads, and bad tables refused with the file and the key; the texts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.notifications.recipients import destinations
from gateway.notifications.texts import Facts, opening, render, webhook_payload
from gateway.policy import account_label, load_municipality
from gateway.policy_notifications import DEFAULT_EVENTS, Notifications

CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"

GOOD = """
[notifications]
console_url = "https://koho.city.kodaira.example.jp"
recipients = { approver = ["kacho@city.kodaira.tokyo.jp"], operator = ["joho@city.kodaira.tokyo.jp"] }
events = { delivery_failed = ["operator", "tousei@city.kodaira.tokyo.jp"] }

[notifications.smtp]
host = "smtp.city.kodaira.tokyo.jp"
username = "koho-gateway"
password_secret = "kodaira_smtp"
sender = "koho-gateway@city.kodaira.tokyo.jp"

[[notifications.webhooks]]
id = "koho_chat"
url_secret = "kodaira_chat"
events = ["approval_waiting", "hijack"]
"""


def city_file(tmp_path: Path, table: str) -> Path:
    """kodaira.toml with `table` appended, under the name the loader checks the id against."""
    path = tmp_path / "kodaira.toml"
    path.write_text((CONFIG / "kodaira.toml").read_text(encoding="utf-8") + table, encoding="utf-8")
    return path


def refused(tmp_path: Path, table: str) -> str:
    path = city_file(tmp_path, table)
    with pytest.raises(InputError) as caught:
        load_municipality(path)
    assert str(path) in caught.value.message
    return caught.value.message


def test_a_full_table_loads(tmp_path: Path) -> None:
    config = load_municipality(city_file(tmp_path, GOOD)).notifications
    assert config.smtp is not None and config.smtp.port == 587 and config.smtp.security == "starttls"
    assert config.secret_names == ("kodaira_chat", "kodaira_smtp")
    assert config.roles_for("delivery_failed") == ("operator", "tousei@city.kodaira.tokyo.jp")
    assert config.roles_for("sent_back") == ("author",)  # the defaults stay for events not named


def test_the_seed_cities_load_without_notifications_or_secrets() -> None:
    for path in sorted(CONFIG.glob("*.toml")):
        config = load_municipality(path).notifications
        assert config.secret_names == ()  # `make run` needs no secret


def test_a_webhook_url_written_in_the_file_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[notifications.webhooks]]\nid = "chat"\nurl = "https://hooks.slack.com/services/T/B/X"\n')
    assert "notifications.webhooks[chat]" in message
    assert "url をファイルに直接書かないでください" in message and "url_secret" in message
    assert "hooks.slack.com/services/T/B/X" not in message  # the refusal does not repeat the secret


def test_an_smtp_password_written_in_the_file_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, '[notifications.smtp]\nhost = "smtp.example.jp"\nsender = "a@example.jp"\n'
                                'username = "u"\npassword = "hunter2-secret"\n')
    assert "notifications.smtp" in message and "password_secret" in message
    assert "hunter2-secret" not in message


@pytest.mark.parametrize(("table", "where", "what"), [
    ('[notifications]\nevents = { approval_wait = ["approver"] }\n', "notifications.events",
     "不明なイベント 'approval_wait'"),
    ('[notifications]\nevents = { sent_back = ["boss"] }\n', "notifications.events",
     "役割（approver, operator, admin, author）でもメールアドレスでもありません"),
    ('[notifications]\nrecipients = { approver = ["kacho at city"] }\n', "notifications.recipients",
     "メールアドレスでないものがあります"),
    ('[notifications]\nrecipients = { author = ["a@example.jp"] }\n', "notifications.recipients",
     "役割ではありません"),
    ('[notifications.smtp]\nhost = "smtp.example.jp"\nsender = "koho"\n', "notifications.smtp.sender",
     "メールアドレスではありません"),
    ('[notifications.smtp]\nhost = "smtp.example.jp"\nsender = "a@example.jp"\npassword_secret = "x"\n',
     "notifications.smtp", "username も指定してください"),
    ('[[notifications.webhooks]]\nid = "chat"\nurl_secret = "Kodaira-Chat"\n', "notifications.webhooks[chat].url_secret",
     "英小文字・数字・_"),
    ('[[notifications.webhooks]]\nid = "chat"\nurl_secret = "c"\nevents = ["held"]\n',
     "notifications.webhooks[chat].events", "不明なイベント"),
    ('[[notifications.webhooks]]\nid = "a"\nurl_secret = "b"\n[[notifications.webhooks]]\nid = "a"\nurl_secret = "c"\n',
     "notifications", "重複"),
    ('[notifications]\nsmtp_host = "x"\n', "notifications.smtp_host", "Extra inputs are not permitted"),
])
def test_bad_tables_name_the_file_and_the_key(tmp_path: Path, table: str, where: str, what: str) -> None:
    message = refused(tmp_path, table)
    assert f"{where}:" in message or f"{where} " in message, message
    assert what in message


def test_destinations_are_per_event_each_once() -> None:
    config = Notifications.model_validate({
        "smtp": {"host": "smtp.example.jp", "sender": "koho@example.jp"},
        "recipients": {"operator": ["joho@example.jp"]},
        "events": {"delivery_failed": ["operator", "joho@example.jp"]},
        "webhooks": [{"id": "chat", "url_secret": "chat", "events": ["hijack"]}],
    })
    failed = destinations("kodaira", config, "delivery_failed", [], None)
    assert [d.key for d in failed] == ["kodaira:mail:joho@example.jp"]
    assert [d.key for d in destinations("kodaira", config, "hijack", [], None)] == [
        "kodaira:mail:joho@example.jp", "kodaira:webhook:chat"]
    assert DEFAULT_EVENTS["sent_back"] == ("author",)


def _label(city_id: str, account_id: str) -> str:
    city = load_municipality(CONFIG / f"{city_id}.toml")
    account = city.account(account_id)
    assert account is not None
    return account_label(city, account)


def test_texts_name_the_post_the_city_and_the_account_never_ids_alone() -> None:
    facts = Facts(event="approval_waiting", city="小平市", link="https://koho.example.jp/console/messages/m_1",
                  at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC), post=opening(None, "小平市民まつりを\r\n中央公園で開催します。" * 3),
                  accounts=(_label("kodaira", "kodaira_x"),), author="sato")
    text = render(facts)
    assert text.subject.startswith("【小平市】承認待ちの投稿があります「小平市民まつりを 中央公園で開催します。")
    assert text.subject.endswith("…」")
    assert "アカウント: 小平市 X kodaira_tokyo" in text.body and "受付: 2026年11月24日 10:00" in text.body
    assert "開く: https://koho.example.jp/console/messages/m_1" in text.body
    payload = webhook_payload(facts, text, "n_1")
    assert payload["text"] == f"{text.subject}\n{text.body}" and payload["event_label"] == "承認待ちの投稿"


def test_a_token_that_stops_renewing_is_told_to_the_admin_and_operators() -> None:
    assert DEFAULT_EVENTS["account_auth"] == ("admin", "operator")
    facts = Facts(event="account_auth", city="厚木市", link="https://koho.example.jp/console/accounts",
                  at=datetime(2026, 12, 5, 0, 30, tzinfo=UTC),
                  accounts=(_label("atsugi", "atsugi_youtube"),),
                  reason="YouTube の認証を更新できません（invalid_grant）")
    text = render(facts)
    assert text.subject == "【厚木市】アカウントの認証を更新できません（厚木市 YouTube UC7rmD_yaTs0t0PTtCkigV_g）"
    assert "接続し直してください" in text.body and "理由: YouTube の認証を更新できません（invalid_grant）" in text.body
    assert "開く: https://koho.example.jp/console/accounts" in text.body and "日時: 2026年12月5日 09:30" in text.body


def test_an_edited_post_waiting_again_says_which_revision() -> None:
    facts = Facts(event="approval_waiting", city="小平市", link="https://koho.example.jp/console/messages/m_1",
                  at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC), post="小平市民まつり", revision=3)
    text = render(facts)
    assert text.subject == "【小平市】承認待ちの投稿があります「小平市民まつり」（第3版）"
    assert "編集されて第3版になり、承認をやり直しています。" in text.body
    first = render(Facts(event="approval_waiting", city="小平市", link="x", at=facts.at, post="小平市民まつり"))
    assert "版" not in first.subject and "編集" not in first.body
