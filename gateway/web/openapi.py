"""/openapi.json built from the route table and the pydantic models, so it cannot drift."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from gateway import __version__
from gateway.models import Message
from gateway.web.fields import MAX_IDEMPOTENCY_KEY_CHARS, MAX_OVERRIDES, MAX_RULE_CHARS, MAX_TEXT_CHARS

if TYPE_CHECKING:
    from gateway.web.api import Route

_TEXT = {"type": "string", "maxLength": MAX_TEXT_CHARS}

_BODIES: dict[str, dict[str, Any]] = {
    "Approve": {"type": "object", "properties": {
        "overrides": {"type": "object", "additionalProperties": _TEXT, "maxProperties": MAX_OVERRIDES,
                      "propertyNames": {"maxLength": MAX_RULE_CHARS},
                      "description": "review finding rule id -> reason for overriding it"}}},
    "Reject": {"type": "object", "properties": {"comment": _TEXT}},
    "Retract": {"type": "object", "required": ["reason"], "properties": {
        "reason": _TEXT, "correction": {"type": "string"}}},
    "Alert": {"type": "string", "description": "JMA XML, L-Alert EDXL-DE, CAP 1.1/1.2 or the gateway's JSON"},
    "Reason": {"type": "object", "required": ["reason"], "properties": {"reason": _TEXT}},
    "Resolve": {"type": "object", "required": ["note"], "properties": {"note": _TEXT}},
    "Note": {"type": "object", "properties": {"note": _TEXT}},
    "MediaUpload": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "JPEG, PNG, GIF or WebP (5 MB) or MP4/MOV (512 MB), typed by content"}}},
}
_BODY_TYPES = {"Alert": "application/xml", "MediaUpload": "multipart/form-data"}
_STORED_MEDIA = {"type": "object", "required": ["id", "kind", "content_type", "size", "sha256"], "properties": {
    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["image", "video"]},
    "content_type": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"}}}

_ERROR = {"type": "object", "required": ["error", "message"], "properties": {
    "error": {"type": "string"}, "message": {"type": "string"},
    "problems": {"type": "array", "items": {"type": "object", "properties": {
        "field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}},
    "findings": {"type": "array", "items": {"type": "object"}}}}


def _schemas() -> dict[str, Any]:
    message = TypeAdapter(Message).json_schema(ref_template="#/components/schemas/{model}")
    defs = message.pop("$defs", {})
    return {"Message": message, **defs, **_BODIES, "StoredMedia": _STORED_MEDIA, "Error": _ERROR}


def _operation(route: Route) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", route.path)]
    if route.method == "POST" and (route.path.endswith("/messages") or route.path.endswith("/submit")):
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS}})
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
        "parameters": params,
        "security": [{"bearer": []}],
        "x-roles": sorted({"admin", *(r.value for r in route.roles)}),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            **{code: {"description": why, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}
               for code, why in (("400", "bad input"), ("401", "no or bad token"), ("403", "role not allowed"),
                                 ("404", "not found"), ("409", "state conflict"), ("413", "body too large"),
                                 ("422", "blocked by policy checks"))},
        },
    }
    if route.body == "MediaUpload":
        op["responses"]["201"] = {"description": "stored", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/StoredMedia"}}}}
    if route.body:
        media = _BODY_TYPES.get(route.body, "application/json")
        op["requestBody"] = {"required": route.body != "Approve", "content": {
            media: {"schema": {"$ref": f"#/components/schemas/{route.body}"}}}}
    return op


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    for path in ("/healthz", "/readyz", "/metrics"):
        paths[path] = {"get": {"summary": path.strip("/"), "security": [], "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "koho-gateway", "version": __version__},
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
