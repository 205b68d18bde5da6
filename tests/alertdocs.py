"""Alert documents written by the tests themselves: CAP 1.1/1.2 and the gateway's JSON, from templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

SENT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
EARLIER = f"bousai@city.kodaira.example,KDR-T-0,{(SENT - timedelta(hours=1)).isoformat()}"


def info(event: str = "避難指示", *, code: str = "13211", area: str = "東京都小平市", language: str | None = "ja-JP",
         urgency: str = "Immediate", response: str = "", extra: str = "", category: str = "Safety",
         headline: str | None = None) -> str:
    lang = f"<language>{language}</language>" if language is not None else ""
    resp = f"<responseType>{response}</responseType>" if response else ""
    head = headline if headline is not None else f"{event}を発令しました"
    return (f"<info>{lang}<category>{category}</category><event>{event}</event>{resp}<urgency>{urgency}</urgency>"
            f"<severity>Severe</severity><certainty>Observed</certainty><senderName>小平市</senderName>"
            f"<headline>{head}</headline>{extra}<area><areaDesc>{area}</areaDesc>"
            f"<geocode><valueName>JIS X 0402</valueName><value>{code}</value></geocode></area></info>")


def cap(*infos: str, msg_type: str = "Alert", status: str = "Actual", scope: str | None = "Public",
        references: str | None = None, identifier: str = "KDR-T-1", sent: datetime = SENT, head: str = "",
        version: str = "1.2") -> bytes:
    scope_el = f"<scope>{scope}</scope>" if scope is not None else ""
    refs = f"<references>{references}</references>" if references is not None else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:{version}">'
            f"<identifier>{identifier}</identifier><sender>bousai@city.kodaira.example</sender>"
            f"<sent>{sent.isoformat()}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
            f"{scope_el}{head}{refs}{''.join(infos)}</alert>").encode()




def json_alert(*, id: str = "kodaira-t-1", sent: datetime = SENT, action: str = "issue", kind: str = "evacuation",
               revision: int = 1, evacuation_type: str = "避難指示", code: str = "13211", name: str = "小平市",
               subareas: tuple[str, ...] = (), status: str = "actual", **extra: Any) -> bytes:
    """The gateway's own JSON alert (koho-alert/1)."""
    document = {"format": "koho-alert/1", "id": id, "revision": revision, "sender": "kodaira-bousai",
                "sent": sent.isoformat(), "status": status, "action": action, "kind": kind,
                "areas": [{"code": code, "name": name, "subareas": list(subareas)}],
                "details": {"evacuation_type": evacuation_type} if kind == "evacuation" else {}, **extra}
    return json.dumps(document, ensure_ascii=False).encode()
