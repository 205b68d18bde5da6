"""The words of a notification: plain Japanese, naming the post by its title or opening words, the city and
the account as people know them, with a link to the console page where the person acts. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.policy_notifications import EVENTS

JST = ZoneInfo("Asia/Tokyo")
FOOTER = "（koho-gateway からの自動通知です。このメールには返信しないでください）"
OPENING_CHARACTERS = 40


@dataclass(frozen=True)
class Facts:
    """What a notification says, gathered by the notifier from the ledger."""

    event: str
    city: str  # 小平市
    link: str  # the console page, as a full URL
    at: datetime
    post: str | None = None  # the title, else the opening words
    accounts: tuple[str, ...] = ()  # labels: 小平市 X @kodaira_city
    author: str | None = None
    actor: str | None = None  # who sent it back
    reason: str | None = None  # a failure's reason, a hold's reason
    note: str | None = None  # the approver's comment
    alert_title: str | None = None
    suspect_text: str | None = None
    suspect_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    revision: int = 1  # the post's revision: an edited post waits for approval again as 第N版


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def opening(title: str | None, text: str) -> str:
    """The title, else the first words of the text on one line (never an id)."""
    flat = " ".join((title or text).split())
    return flat if len(flat) <= OPENING_CHARACTERS else flat[:OPENING_CHARACTERS - 1] + "…"


def when(at: datetime) -> str:
    local = at.astimezone(JST)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def render(facts: Facts) -> Text:
    subject, lines = _BUILDERS[facts.event](facts)
    body = "\n".join([*lines, "", f"開く: {facts.link}", "", FOOTER])
    return Text(f"【{facts.city}】{subject}", body)


def _rows(*pairs: tuple[str, str | None]) -> list[str]:
    return [f"{label}: {value}" for label, value in pairs if value]


def _approval_waiting(f: Facts) -> tuple[str, list[str]]:
    edited = f"（第{f.revision}版）" if f.revision > 1 else ""
    again = f"編集されて第{f.revision}版になり、承認をやり直しています。" if f.revision > 1 else ""
    return (f"承認待ちの投稿があります「{f.post}」{edited}",
            [f"{f.city}の投稿が承認を待っています。{again}内容を確認して、承認または差し戻しをしてください。", "",
             *_rows(("投稿", f"「{f.post}」"), ("投稿者", f.author), ("アカウント", "、".join(f.accounts)),
                    ("受付", when(f.at)))])


def _sent_back(f: Facts) -> tuple[str, list[str]]:
    return (f"投稿が差し戻されました「{f.post}」",
            [f"{f.author or 'あなた'}さんの投稿が差し戻されました。"
             "コメントを読んで、直してから出し直してください。", "",
             *_rows(("投稿", f"「{f.post}」"), ("差し戻した人", f.actor), ("コメント", f.note or "（なし）"),
                    ("アカウント", "、".join(f.accounts)), ("日時", when(f.at)))])


def _delivery_failed(f: Facts) -> tuple[str, list[str]]:
    where = "、".join(f.accounts)
    return (f"配信に失敗しました（{where}）",
            [f"次の投稿を{where}に送れませんでした。原因を確認し、必要なら再送してください。", "",
             *_rows(("投稿", f"「{f.post}」"), ("アカウント", where), ("理由", f.reason), ("日時", when(f.at)))])


def _alert_held(f: Facts) -> tuple[str, list[str]]:
    return (f"防災情報が保留されています（要確認）「{f.alert_title}」",
            ["受け取った防災情報を自動では投稿せず、保留しました。"
             "内容を確認して、投稿するか見送るかを決めてください。", "",
             *_rows(("防災情報", f"「{f.alert_title}」"), ("保留の理由", f.reason), ("受信", when(f.at)))])


def _hijack(f: Facts) -> tuple[str, list[str]]:
    where = "、".join(f.accounts)
    return (f"【至急】乗っ取りの疑い（{where}）",
            [f"{where}に、ゲートウェイが送っていない投稿が見つかりました。アカウントの乗っ取りの疑いがあります。"
             "すぐに確認し、必要ならアカウントを停止してください。", "",
             *_rows(("見つかった投稿", f"「{f.suspect_text}」" if f.suspect_text else None),
                    ("投稿のURL", f.suspect_url), ("検出", when(f.at)))])


def _account_auth(f: Facts) -> tuple[str, list[str]]:
    where = "、".join(f.accounts)
    return (f"アカウントの認証を更新できません（{where}）",
            [f"{where}の認証（アクセストークン）を自動で更新できませんでした。期限が切れると、このアカウントには"
             "投稿できなくなります。管理者がアカウント画面から接続し直してください。", "",
             *_rows(("アカウント", where), ("理由", f.reason), ("日時", when(f.at)))])


_BUILDERS = {"approval_waiting": _approval_waiting, "sent_back": _sent_back, "delivery_failed": _delivery_failed,
             "alert_held": _alert_held, "hijack": _hijack, "account_auth": _account_auth}
assert set(_BUILDERS) == set(EVENTS)


def webhook_payload(facts: Facts, text: Text, notification_id: str) -> dict[str, object]:
    """JSON an incoming webhook (Slack, Teams, Mattermost, ...) takes as it is (`text`), with the facts as
    fields for a receiver that reads them."""
    return {
        "text": f"{text.subject}\n{text.body}",
        "event": facts.event, "event_label": EVENTS[facts.event], "id": notification_id, "city": facts.city,
        "subject": text.subject, "post": facts.post, "accounts": list(facts.accounts), "author": facts.author,
        "actor": facts.actor, "reason": facts.reason, "note": facts.note, "alert_title": facts.alert_title,
        "link": facts.link, "at": facts.at.isoformat(),
    }
