"""Format detection (by XML root namespace, or JSON) and the parse entry points.

A document holds one event or several (a CAP message with two Japanese <info> blocks):
`parse_document` returns them all, in document order; `parse_alert` the first.
"""

from __future__ import annotations

import hashlib
from xml.etree.ElementTree import Element

from gateway.alerts import cap, edxl, jma, terms
from gateway.alerts.jsonalert import parse_json
from gateway.alerts.model import Alert, RawInfo
from gateway.alerts.xmlsafe import DEFAULT_MAX_BYTES, check_size, local, namespace, parse_xml

_BOM = b"\xef\xbb\xbf"


def parse_document(raw: bytes, *, content_type: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Alert, ...]:
    """Every event of any supported alert document; InputError (with code and where) for anything else."""
    check_size(raw, max_bytes)
    info = RawInfo(sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
    if _looks_like_json(raw, content_type):
        return (parse_json(raw, info),)
    return _parse_xml_alert(parse_xml(raw), info)


def parse_alert(raw: bytes, *, content_type: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Alert:
    """The first event of a document (most documents hold one)."""
    return parse_document(raw, content_type=content_type, max_bytes=max_bytes)[0]


def _looks_like_json(raw: bytes, content_type: str | None) -> bool:
    start = raw.lstrip().removeprefix(_BOM).lstrip()[:1]
    if start == b"{" or start == b"[":
        return True
    if start == b"<":
        return False
    if content_type and "json" in content_type.lower():
        return True
    raise terms.invalid("document", "XML でも JSON でもありません", code="alert_unsupported_format")


def _parse_xml_alert(root: Element, info: RawInfo) -> tuple[Alert, ...]:
    ns, name = namespace(root.tag), local(root.tag)
    if ns == jma.NAMESPACE and name == "Report":
        return (jma.parse_jma(root, info),)
    if ns in cap.NAMESPACES and name == "alert":
        return cap.parse_cap(root, info)
    if ns == edxl.NAMESPACE or (ns in edxl.SOAP_NAMESPACES and name == "Envelope"):
        return _parse_envelope(root, info)
    shown = f"{{{ns}}}{name}" if ns else name
    message = (f"対応していない形式です（ルート要素 {shown}）。"
               "JMA 防災情報XML・Lアラート（EDXL-DE）・CAP 1.1/1.2・koho-alert JSON に対応しています")
    raise terms.invalid("document", message, code="alert_unsupported_format")


def _parse_envelope(root: Element, info: RawInfo) -> tuple[Alert, ...]:
    distribution = edxl.find_distribution(root)
    if distribution is not None:
        return (edxl.parse_edxl(distribution, info),)
    inner_cap = next((e for e in root.iter() if local(e.tag) == "alert" and namespace(e.tag) in cap.NAMESPACES), None)
    if inner_cap is not None:
        return cap.parse_cap(inner_cap, info)
    raise terms.missing("Envelope/Body", "EDXLDistribution 要素")
