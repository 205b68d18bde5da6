"""L-Alert / 公共情報コモンズ EDXL-DE (bare, or inside a SOAP publish envelope) → Alert.

The envelope (urn:oasis:names:tc:emergency:EDXL:DE:1.0) carries the status, the target area and
one contentObject: `commons:documentID` + `commons:documentRevision` identify the document (key
`edxl|documentID|revision`; a revision > 1 updates revision - 1), `commons:category` says what it
is. The embedded pcxml Report (pcxml1/2..4) has the Head (Title, Headline, Areas) and the body:
- EvacuationOrder: Detail/Sort (避難準備, 避難勧告, 避難指示（緊急）, 高齢者等避難, 避難指示,
  緊急安全確保 — old words mapped to the current ones) and Detail/IssueOrLift (発令/解除).
- Shelter: per shelter a name and 開設/閉鎖 (read tolerantly: any Name/areaName and Status/Condition).
- SedimentDisastersWarning: 土砂災害警戒情報 relayed by the prefecture.
distributionStatus Test/Exercise (envelope or Control) are drills; System (network functions) is
withheld, as are distributionTypes that are not an alert (Ack, Error, Request, Sensor* ...), a
combinedConfidentiality other than UNCLASSIFIED AND NOT SENSITIVE (restricted), and a distribution
to explicit addresses (private). Head/ValidDateTime is the alert's expiry.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from gateway.alerts import terms
from gateway.alerts.areas import code_type_of
from gateway.alerts.model import Action, Alert, AlertArea, CodeType, Detail, RawInfo, Withheld
from gateway.alerts.xmlsafe import child, children, descendants, first_descendant_text, local, path, path_text
from gateway.models import ascii_digits

NAMESPACE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
SOAP_NAMESPACES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")

_DRILL_STATUS = {"Test", "Exercise"}
_STATUSES = {"Actual", "Test", "Exercise", "System"}
_ALERT_TYPES = {"Report", "Update", "Cancel"}
_OTHER_TYPES = {"Request", "Response", "Dispatch", "Ack", "Error", "SensorConfiguration", "SensorControl",
                "SensorStatus", "SensorDetection"}
_PUBLIC = "UNCLASSIFIED AND NOT SENSITIVE"
_CATEGORIES = {"EvacuationOrder": "evacuation", "Shelter": "shelter", "SedimentDisastersWarning": "landslide"}
_TYPE_ACTIONS: dict[str, Action] = {"Update": "update", "Cancel": "cancel"}


def find_distribution(root: Element) -> Element | None:
    """The EDXLDistribution element: the root itself or the one inside a SOAP envelope."""
    if local(root.tag) == "EDXLDistribution":
        return root
    return next(descendants(root, "EDXLDistribution"), None)


def parse_edxl(distribution: Element, raw: RawInfo) -> Alert:
    status = _required(distribution, "distributionStatus")
    if status not in _STATUSES:
        raise terms.invalid("EDXLDistribution/distributionStatus", f"未知の distributionStatus です（{status}）")
    withheld = _withheld(distribution, status)
    content = child(distribution, "contentObject")
    if content is None:
        raise terms.missing("EDXLDistribution/contentObject", "contentObject 要素")
    document_id = _required(content, "documentID", "contentObject/")
    revision = _revision(path_text(content, "documentRevision"))
    category = _required(content, "category", "contentObject/")
    report = next((r for r in descendants(content, "Report")), None)
    head = child(report, "Head")
    kind = _CATEGORIES.get(category)
    body = _body(report, category)
    areas, details = _read(kind, body, head, distribution)
    inner_status = path_text(child(report, "Control"), "distributionStatus")
    title = path_text(head, "Title")
    changed = tuple(a for a in areas if a.status != "none")
    valid = path_text(head, "ValidDateTime")
    return Alert(
        format="edxl", key=f"edxl|{document_id}|{revision}", thread=f"edxl|{document_id}", kind=kind,
        action=_action(distribution, head, title, areas, revision), correction=path_text(head, "InfoType") == "訂正",
        drill=status in _DRILL_STATUS or inner_status in _DRILL_STATUS, status=status,
        references=(f"edxl|{document_id}|{revision - 1}",) if revision > 1 else (),
        area_codes=tuple(dict.fromkeys(a.code for a in changed if a.code)),
        area_names=tuple(dict.fromkeys(a.name for a in changed if a.name)), areas=areas,
        headline=terms.clean(path_text(head, "Headline", "Text") or path_text(content, "contentDescription")),
        sent=terms.parse_datetime(_required(distribution, "dateTimeSent"), "EDXLDistribution/dateTimeSent"),
        expires=terms.parse_datetime(valid, "Report/Head/ValidDateTime") if valid else None,
        withheld=withheld[0] if withheld else None, withheld_reason=withheld[1] if withheld else "",
        sender=path_text(content, "publishingOfficeName") or path_text(distribution, "senderID") or "Lアラート",
        title=terms.clean(title), source_kind=category, details=details, sha256=raw.sha256, size=raw.size,
    )


def _withheld(distribution: Element, status: str) -> tuple[Withheld, str] | None:
    kind = path_text(distribution, "distributionType")
    if kind and kind not in _ALERT_TYPES | _OTHER_TYPES:
        raise terms.invalid("EDXLDistribution/distributionType", f"未知の distributionType です（{kind}）")
    if kind in _OTHER_TYPES:
        return "receipt", f"distributionType {kind} は警報の配信ではありません（掲載しません）"
    confidentiality = path_text(distribution, "combinedConfidentiality")
    if confidentiality and confidentiality != _PUBLIC:
        return "restricted", (f"機密区分（{confidentiality}）の付いた情報です。公開アカウントには掲載せず、"
                              "運用担当者に表示します")
    if any(path_text(a, "explicitAddressValue") for a in children(distribution, "explicitAddress")):
        return "private", "宛先を指定した配信です。公開アカウントには掲載せず、運用担当者に表示します"
    if status == "System":
        return "system", "distributionStatus System はシステム内部の通知です（掲載しません）"
    return None


def _required(parent: Element, name: str, where: str = "") -> str:
    value = path_text(parent, name)
    if not value:
        raise terms.missing(f"EDXLDistribution/{where}{name}", f"{name} 要素")
    return value


def _revision(value: str) -> int:
    if not value:
        raise terms.missing("EDXLDistribution/contentObject/documentRevision", "documentRevision 要素")
    if not ascii_digits(value) or int(value) < 1:
        raise terms.invalid("EDXLDistribution/contentObject/documentRevision", f"版番号が不正です（{value}）")
    return int(value)


def _body(report: Element | None, category: str) -> Element | None:
    return next(descendants(report, category), None) if report is not None else None


def _action(distribution: Element, head: Element | None, title: str, areas: tuple[AlertArea, ...],
            revision: int) -> Action:
    info_type = path_text(head, "InfoType")
    if info_type == "取消" or path_text(distribution, "distributionType") == "Cancel":
        return "cancel"
    changed = [a for a in areas if a.status != "none"]
    if (changed and all(a.status == "lift" for a in changed)) or (not changed and title.endswith("解除")):
        return "lift"
    if revision > 1 or info_type == "訂正":
        return "update"
    return _TYPE_ACTIONS.get(path_text(distribution, "distributionType"), "issue")


def _read(kind: str | None, body: Element | None, head: Element | None,
          distribution: Element) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    targets = _target_areas(distribution, head)
    if kind == "evacuation":
        return _evacuation(body, head, targets)
    if kind == "shelter" and body is not None:
        return _shelters(body, targets)
    if kind == "landslide":
        return tuple(a.model_copy(update={"labels": ("土砂災害警戒情報",), "level": 4}) for a in targets), {"level": 4}
    return targets, {}


def _target_areas(distribution: Element, head: Element | None) -> tuple[AlertArea, ...]:
    found: dict[str, AlertArea] = {}
    sources = [path(distribution, "targetArea")]
    headline = path(head, "Headline", "Areas")
    sources.extend(children(headline, "Area") if headline is not None else [])
    for source in sources:
        if source is None:
            continue
        code, name = path_text(source, "jisX0402"), path_text(source, "areaName")
        if code or name:
            found.setdefault(code or name, AlertArea(code=code, name=name, code_type=_code_type(code)))
    return tuple(found.values())


def _code_type(code: str) -> CodeType:
    kind = code_type_of(code) if code else "city"
    if kind == "city":
        return "city"
    return "prefecture" if kind == "prefecture" else "other"


def _evacuation(body: Element | None, head: Element | None,
                targets: tuple[AlertArea, ...]) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    details = list(children(body, "Detail")) if body is not None else []
    issued = [d for d in details if "解除" not in path_text(d, "IssueOrLift")]
    sorts = [path_text(d, "Sort") for d in (issued or details)]
    term = terms.evacuation_type(*sorts) or terms.evacuation_type(path_text(head, "Headline", "Text"))
    lifted = bool(details) and not issued
    subareas = tuple(dict.fromkeys(
        n for d in (issued or details) for n in (path_text(a, "Location", "areaName") for a in descendants(d, "Area"))
        if n))
    level = terms.LEVEL_OF.get(term or "")
    info: dict[str, Detail] = {"evacuation_type": term} if term else {}
    if level:
        info["level"] = level
    areas = tuple(a.model_copy(update={"status": "lift" if lifted else "issue", "labels": (term,) if term else (),
                                       "level": level, "subareas": subareas}) for a in targets)
    return areas, info


def _shelters(body: Element, targets: tuple[AlertArea, ...]) -> tuple[tuple[AlertArea, ...], dict[str, Detail]]:
    opened: list[str] = []
    closed: list[str] = []
    for item in [*descendants(body, "Information"), *descendants(body, "Detail")]:
        name = first_descendant_text(item, "ShelterName", "Name", "areaName")
        state = first_descendant_text(item, "Status", "Condition", "OpenStatus")
        if name:
            (closed if "閉鎖" in state else opened).append(name)
    status = "lift" if closed and not opened else "issue"
    areas = tuple(a.model_copy(update={"status": status, "subareas": tuple(dict.fromkeys(opened or closed))})
                  for a in targets)
    return areas, {"shelters": tuple(dict.fromkeys(opened)), "closed_shelters": tuple(dict.fromkeys(closed))}
