"""Hostile-safe XML parsing and small namespace-blind helpers.

defusedxml refuses any DTD (so no entity expansion — billion laughs — and no external entities —
XXE — can even be declared) and we cap the document size before parsing. The helpers match
elements by local name: the alert formats come with several namespace versions (pcxml1/2..4,
informationBasis2..4) and arbitrary prefixes, and the structure, not the prefix, is what we read.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import fromstring

from gateway.errors import FieldProblem, InputError

DEFAULT_MAX_BYTES = 1_000_000


def check_size(raw: bytes, max_bytes: int) -> None:
    if len(raw) > max_bytes:
        raise _error("too_large", "document", f"文書が大きすぎます（{len(raw):,} バイト、上限 {max_bytes:,} バイト）")
    if not raw.strip():
        raise _error("empty", "document", "文書が空です")


def parse_xml(raw: bytes) -> Element:
    """Parse `raw` or raise InputError naming what was refused and where."""
    try:
        root: Element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        return root
    except defusedxml.DTDForbidden as exc:
        raise _error("xml_dtd_forbidden", "DOCTYPE",
                     "DTD（文書型宣言）を含む XML は受け付けません（実体展開・外部実体参照の防止）") from exc
    except defusedxml.EntitiesForbidden as exc:
        raise _error("xml_entities_forbidden", "ENTITY", "実体宣言を含む XML は受け付けません") from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise _error("xml_external_forbidden", "ENTITY", "外部実体参照を含む XML は受け付けません") from exc
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise _error("xml_malformed", f"line {line}, column {column}",
                     f"XML として解析できません（{line} 行 {column} 桁）: {exc}") from exc
    except (ValueError, LookupError) as exc:  # unknown encoding declarations
        raise _error("xml_malformed", "encoding", f"XML の文字コードを解釈できません: {exc}") from exc


def _error(code: str, where: str, message: str) -> InputError:
    return InputError(message, [FieldProblem(where, code, message)], code=code)


def local(tag: object) -> str:
    """The local name of an element tag (`{ns}name` -> `name`); comments/PIs give ''."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _is(tag: object, name: str, suffix: str) -> bool:
    """Local-name test without splitting: hot path, called for every element visited."""
    return isinstance(tag, str) and (tag == name or tag.endswith(suffix))


def children(element: Element, name: str) -> Iterator[Element]:
    suffix = "}" + name
    return (c for c in element if _is(c.tag, name, suffix))


def child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    suffix = "}" + name
    for candidate in element:
        if _is(candidate.tag, name, suffix):
            return candidate
    return None


def path(element: Element | None, *names: str) -> Element | None:
    """Follow child local names, e.g. path(report, "Head", "Headline", "Text")."""
    for name in names:
        element = child(element, name)
    return element


def text(element: Element | None) -> str:
    if element is None or element.text is None:
        return ""
    return element.text.strip()


def path_text(element: Element | None, *names: str) -> str:
    return text(path(element, *names))


def descendants(element: Element, name: str) -> Iterator[Element]:
    suffix = "}" + name
    return (e for e in element.iter() if _is(e.tag, name, suffix))


def first_descendant_text(element: Element, *names: str) -> str:
    for name in names:
        for found in descendants(element, name):
            value = text(found)
            if value:
                return value
    return ""
