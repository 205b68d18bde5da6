"""Turn raw input into a `Message`, with every problem named by field and explained in Japanese."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from gateway.errors import FieldProblem, InputError
from gateway.models import MAX_TEXT_CHARS, MEDIA_FIELD, Message, shown_key, storable_text_problem
from gateway.policy import LANGUAGES

_JA_BY_TYPE: Mapping[str, str] = {
    "missing": "必須項目です",
    "extra_forbidden": "不明な項目です（項目名の誤りがないか確認してください）",
    "string_type": "文字列を指定してください",
    "string_too_long": "長すぎます",
    "too_long": "多すぎます",
    "string_too_short": "短すぎます",
    "bool_type": "true または false を指定してください",
    "bool_parsing": "true または false を指定してください",
    "enum": "指定できない値です",
    "datetime_parsing": "日時の形式が正しくありません（例: 2026-11-24T09:00:00+09:00）",
    "datetime_from_date_parsing": "日時の形式が正しくありません（例: 2026-11-24T09:00:00+09:00）",
    "datetime_type": "日時を指定してください（例: 2026-11-24T09:00:00+09:00）",
    "tuple_type": "配列を指定してください",
    "list_type": "配列を指定してください",
    "model_type": "オブジェクトを指定してください",
    "model_attributes_type": "オブジェクトを指定してください",
    "value_error": "値が正しくありません",
    "timezone_aware": "タイムゾーン付きの日時を指定してください（例: +09:00）",
    "string_pattern_mismatch": "形式が正しくありません",
}


def field_path(loc: tuple[int | str, ...]) -> str:
    """`("media", 0, "alt_text")` -> `media[0].alt_text`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{shown_key(part)}" if out else shown_key(part))
    return out or "(本文)"


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        base = _JA_BY_TYPE.get(err["type"], "値が正しくありません")
        ctx = err.get("ctx") or {}
        if err["type"] == "enum" and "expected" in ctx:
            base += f"（指定できる値: {ctx['expected']}）"
        elif "max_length" in ctx:
            base += f"（最大 {ctx['max_length']}）"
        elif err["type"] == "value_error" and err.get("msg"):
            base = str(err["msg"]).removeprefix("Value error, ")
        loc = tuple(err["loc"])
        if MEDIA_FIELD in ctx:  # a rule across id and path: name the field that is wrong
            base, loc = str(err["msg"]), (*loc, str(ctx[MEDIA_FIELD]))
        problems.append(FieldProblem(field_path(loc), err["type"], base))
    return problems


def unstorable_text(value: Any, path: str = "") -> list[FieldProblem]:
    """Strings no database should be asked to store: NUL (U+0000) and lone surrogates (U+D800-U+DFFF).

    JSON can carry both as escapes, PostgreSQL refuses them, and no municipal post needs them,
    so they are refused at the door with the field named.
    """
    if isinstance(value, str):
        return _text_problems(value, path or "(本文)")
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            where = f"{path}.{shown_key(str(key))}" if path else shown_key(str(key))
            problems += unstorable_text(str(key), where) + unstorable_text(item, where)
        return problems
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unstorable_text(item, f"{path}[{i}]")]
    return []


_UNSTORABLE_JA = {"nul_character": "制御文字（U+0000）は使えません",
                  "invalid_unicode": "不正な文字（対になっていないサロゲート）が含まれています"}


def _text_problems(value: str, where: str) -> list[FieldProblem]:
    code = storable_text_problem(value)
    return [] if code is None else [FieldProblem(where, code, _UNSTORABLE_JA[code])]


def require_storable(value: Any, path: str = "") -> None:
    problems = unstorable_text(value, path)
    if problems:
        raise InputError(_summary(problems), problems, code=problems[0].code)


def parse_message(data: Any) -> Message:
    """Validate a decoded JSON value as a Message; naive `not_before` is rejected."""
    require_storable(data)
    if not isinstance(data, dict):
        raise InputError("メッセージはJSONオブジェクトで指定してください", [
            FieldProblem("(本文)", "not_an_object", "JSONオブジェクト { ... } を指定してください")])
    try:
        message = Message.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc)
        raise InputError(_summary(problems), problems) from exc
    if message.not_before is not None and message.not_before.tzinfo is None:
        problem = FieldProblem("not_before", "timezone_aware", _JA_BY_TYPE["timezone_aware"])
        raise InputError(_summary([problem]), [problem])
    problems = language_problems(message)
    if problems:
        raise InputError(_summary(problems), problems, code=problems[0].code)
    return message


def language_problems(message: Message) -> list[FieldProblem]:
    """The body is Japanese; each version in another language names a language of the contract, once."""
    problems = []
    if message.language != "ja":
        problems.append(FieldProblem("language", "not_allowed",
                                     "本文（text）は日本語で書いてください。他の言語の版は translations に入れます"))
    seen: dict[str, int] = {}
    for index, translation in enumerate(message.translations):
        code = translation.language
        where = f"translations[{index}].language"
        if code == "ja" or code not in LANGUAGES:
            problems.append(FieldProblem(where, "unknown_language", f"「{code}」は指定できません（{_VERSION_CODES}）"))
        elif code in seen:
            twice = f"{LANGUAGES[code]}版が2つあります（translations[{seen[code]}] と同じ言語です）"
            problems.append(FieldProblem(where, "duplicate_language", twice))
        seen.setdefault(code, index)
    return problems


_VERSION_CODES = "指定できる言語: " + "、".join(f"{code}（{name}）" for code, name in LANGUAGES.items() if code != "ja")


# A post may be scheduled up to a year ahead (the office-hours calendar reaches that far); anything
# later, or before 2000, is a typo or an attack, and such a date could not be computed with later.
SCHEDULE_HORIZON = timedelta(days=366)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def check_schedule(message: Message, now: datetime) -> None:
    """Refuse a `not_before` the gateway could not keep: more than a year ahead, or before 2000."""
    at = message.not_before
    if at is None:
        return
    if not _EARLIEST <= at <= now + SCHEDULE_HORIZON:
        problem = FieldProblem("not_before", "out_of_range",
                               "予約日時は2000年以降、今から1年（366日）以内で指定してください")
        raise InputError(_summary([problem]), [problem])


CORRECTION_PREFIX = "【訂正】"


def as_correction(message: Message, prefixes: Mapping[str, str]) -> Message:
    """A correction (逗子 3-5(1)) says that it is one in every language it is posted in, whoever submits it
    and however (API, CLI or console): 【訂正】 leads its text and each version's own mark ([Correction] ,
    【なおし】 ...) leads that version, once. `prefixes`: language -> what its correction starts with (the
    alert templates' words, `multilingual.correction_prefixes`). Other messages are returned unchanged."""
    if not message.correction_of:
        return message
    problems: list[FieldProblem] = []
    text = _marked(message.text, prefixes.get(message.language, CORRECTION_PREFIX), ("text", "本文"), problems)
    translations = tuple(
        version.model_copy(update={"text": _marked(
            version.text, prefixes.get(version.language, ""),
            (f"translations[{index}].text", f"{LANGUAGES.get(version.language, version.language)}版"), problems)})
        for index, version in enumerate(message.translations))
    if problems:
        raise InputError(_summary(problems), problems, code=problems[0].code)
    return message.model_copy(update={"text": text, "translations": translations})


def _marked(text: str, prefix: str, where: tuple[str, str], problems: list[FieldProblem]) -> str:
    """`text` led by `prefix`, once: a text that already starts with the mark is kept as it is.
    `where`: the field and how staff call it, for the problem of a text with no room left for the mark."""
    mark = prefix.strip()
    if not mark or text.startswith(mark):
        return text
    if len(prefix) + len(text) > MAX_TEXT_CHARS:
        field, label = where
        problems.append(FieldProblem(field, "string_too_long", f"訂正は先頭に{mark}を付けるため、{label}は"
                                     f"{MAX_TEXT_CHARS - len(prefix):,}文字以内にしてください"))
    return prefix + text


def parse_message_json(text: str | bytes, *, where: str = "") -> Message:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        position = f"{exc.lineno}行 {exc.colno}文字目" if isinstance(exc, json.JSONDecodeError) else ""
        problem = FieldProblem(where or "(本文)", "invalid_json", f"JSONとして読めません {position}".strip())
        raise InputError(problem.message, [problem], code="invalid_json") from exc
    return parse_message(data)


def _summary(problems: list[FieldProblem]) -> str:
    return "入力に誤りがあります: " + "、".join(f"{p.field}: {p.message}" for p in problems)
