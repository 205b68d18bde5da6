"""`gateway check`: run the outbound checks on message JSON without storing anything."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from gateway.errors import InputError
from gateway.models import CheckResult, Finding, Severity
from gateway.pipeline.checks import CheckEngine, CheckInput, default_engine
from gateway.pipeline.intake.targets import resolve_targets
from gateway.pipeline.intake.validation import parse_message, parse_message_json
from gateway.policy import Policies, load_policies

EXIT_OK, EXIT_UNREADABLE = 0, 2


def check_one(data: Any, policies: Policies, engine: CheckEngine, *, today: date | None = None) -> CheckResult:
    """Check one decoded message; invalid messages get a `block` verdict naming each problem. `today`: the
    writer's day, against which a date without its year is read (`--as-of`; without it such dates are not
    judged: a file of posts may have been written on any day)."""
    try:
        message = parse_message(data)
        targets = resolve_targets(message, policies)
    except InputError as exc:
        return CheckResult.of([_input_finding(p.field, p.code, p.message) for p in exc.problems]
                              or [_input_finding("(本文)", exc.code, exc.message)])
    return engine.check(CheckInput(message, targets.municipality, targets.accounts, today=today))


def _input_finding(field: str, code: str, message: str) -> Finding:
    return Finding(rule=f"input.{code}", severity=Severity.BLOCK, clause="入力形式（DESIGN.md メッセージJSON）",
                   message=f"{field}: {message}")


def check_lines(lines: Iterable[str], policies: Policies, engine: CheckEngine, out: TextIO, *,
                today: date | None = None) -> int:
    """One result line per input line, in order; unreadable lines make the exit code 2."""
    status = EXIT_OK
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.stderr.write(f"{number}行目: JSONとして読めません（{exc.colno}文字目）\n")
            result = CheckResult.of([_input_finding(f"{number}行目", "invalid_json", "JSONとして読めません")])
            status = EXIT_UNREADABLE
        else:
            result = check_one(data, policies, engine, today=today)
        out.write(json.dumps(result.jsonl_dict(), ensure_ascii=False) + "\n")
        out.flush()
    return status


def evaluate_command(files: list[str], *, config_dir: Path) -> int:
    """Figures per labelled set: each FILE, and each corpus file of a directory, then their total."""
    from gateway.pipeline.checks.evaluate import EvaluationReport, corpus_files, evaluate_file

    sets = [f for name in files for f in corpus_files(Path(name))]
    missing = [str(f) for f in sets if not f.is_file()]
    if missing or not sets:
        sys.stderr.write(f"{', '.join(missing) or files}: 読み込めません\n")
        return EXIT_UNREADABLE
    policies, engine = load_policies(config_dir), default_engine()
    total = EvaluationReport()
    for index, path in enumerate(sets):
        report = evaluate_file(path, engine, policies)
        total.outcomes.extend(report.outcomes)
        print(("" if index == 0 else "\n") + f"== {path}")
        print(report.render())
    if len(sets) > 1:
        print(f"\n== total ({len(sets)} sets)")
        print(total.render())
    return EXIT_OK


def check_command(file: str, *, jsonl: bool, evaluate: bool, config_dir: Path, today: date | None = None) -> int:
    if evaluate:
        from gateway.pipeline.checks.evaluate import evaluate_file

        report = evaluate_file(Path(file), default_engine(), load_policies(config_dir))
        print(report.render())
        return EXIT_OK
    policies = load_policies(config_dir)
    try:
        stream = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        sys.stderr.write(f"{file}: 読み込めません: {exc.strerror}\n")
        return EXIT_UNREADABLE
    with stream:
        if jsonl:
            return check_lines(stream, policies, default_engine(), sys.stdout, today=today)
        try:
            message = parse_message_json(stream.read(), where=file)
        except InputError as exc:
            sys.stderr.write(f"エラー: {exc.message}\n")
            return EXIT_UNREADABLE
    result = check_one(message.model_dump(mode="json"), policies, default_engine(), today=today)
    print(json.dumps(result.jsonl_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK
