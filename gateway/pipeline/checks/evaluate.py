"""Precision and recall of the checks on a labelled corpus (`gateway check --evaluate FILE`).

A corpus line: `{"id", "municipality", "message": {message JSON}, "expect": {"verdict":
"pass|review|block", "families": [...], "rules": [...]}}`. A family counts as found when any
finding's rule starts with it; `rules` (optional) names the exact rules that must fire and feeds
the target groups (identifiers, confidentiality stamps, credentials).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import InputError
from gateway.models import CheckResult, Message, Verdict
from gateway.pipeline.checks.context import CheckInput
from gateway.pipeline.checks.engine import CheckEngine
from gateway.policy import Account, Municipality, Policies, load_policies

DEFAULT_POLICIES_DIR = Path(__file__).resolve().parents[3] / "config" / "municipalities"

# Target groups of issue 4: recall 1.0 on identifiers with a check digit or fixed format in
# context, confidentiality stamps and credentials; >= 0.95 on political/religious/discrimination.
TARGET_GROUPS: dict[str, tuple[tuple[str, ...], float]] = {
    "identifiers": (("personal.my_number", "personal.card", "personal.driver_licence", "personal.passport",
                     "personal.bank_account", "personal.insurance_number", "personal.mobile"), 1.0),
    "stamps": (("confidential.stamp", "confidential.marker", "confidential.embargo"), 1.0),
    "credentials": (("confidential.credential",), 1.0),
}
FAMILY_TARGETS = {"political": 0.95, "religious": 0.95, "discrimination": 0.95}
MAX_FALSE_BLOCK_RATE = 0.01


@dataclass(frozen=True)
class Case:
    id: str
    message: Message
    municipality: Municipality
    accounts: tuple[Account, ...]
    verdict: Verdict
    families: frozenset[str]
    rules: frozenset[str]


@dataclass
class Outcome:
    case: Case
    result: CheckResult

    @property
    def families(self) -> frozenset[str]:
        return frozenset(f.rule.split(".", 1)[0] for f in self.result.findings)

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(f.rule for f in self.result.findings)


@dataclass
class EvaluationReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def legitimate(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.verdict is Verdict.PASS]

    def false_block_rate(self) -> float:
        legit = self.legitimate
        return sum(o.result.verdict is Verdict.BLOCK for o in legit) / len(legit) if legit else 0.0

    def false_review_rate(self) -> float:
        legit = self.legitimate
        return sum(o.result.verdict is Verdict.REVIEW for o in legit) / len(legit) if legit else 0.0

    def family_counts(self) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = {}
        for o in self.outcomes:
            for family in o.case.families | o.families:
                c = counts.setdefault(family, Counter())
                expected, found = family in o.case.families, family in o.families
                c["tp" if expected and found else "fn" if expected else "fp"] += 1
        return counts

    def group_recall(self, rules: Iterable[str]) -> tuple[int, int]:
        wanted = set(rules)
        cases = [o for o in self.outcomes if o.case.rules & wanted]
        hit = sum((o.case.rules & wanted) <= o.rules for o in cases)
        return hit, len(cases)

    def block_recall(self) -> tuple[int, int]:
        """Cases expected to block that the checks block."""
        cases = [o for o in self.outcomes if o.case.verdict is Verdict.BLOCK]
        return sum(o.result.verdict is Verdict.BLOCK for o in cases), len(cases)

    def review_recall(self) -> tuple[int, int]:
        """Cases expected to go to review that the checks send to review or block."""
        cases = [o for o in self.outcomes if o.case.verdict is Verdict.REVIEW]
        return sum(o.result.verdict is not Verdict.PASS for o in cases), len(cases)

    def verdict_accuracy(self) -> float:
        return sum(o.result.verdict is o.case.verdict for o in self.outcomes) / max(len(self.outcomes), 1)

    def targets_met(self) -> bool:
        for rules, target in TARGET_GROUPS.values():
            hit, total = self.group_recall(rules)
            if total and hit / total < target:
                return False
        counts = self.family_counts()
        for family, target in FAMILY_TARGETS.items():
            if _recall(counts.get(family, Counter())) < target:
                return False
        return self.false_block_rate() <= MAX_FALSE_BLOCK_RATE

    def misses(self) -> Iterator[str]:
        for o in self.outcomes:
            missing = o.case.families - o.families
            extra = o.families - o.case.families
            if missing or extra or o.result.verdict is not o.case.verdict:
                yield (f"{o.case.id}: expected {o.case.verdict.value} {sorted(o.case.families)}, got "
                       f"{o.result.verdict.value} {sorted(o.rules)}")

    def render(self) -> str:
        lines = [f"corpus: {len(self.outcomes)} messages, {len(self.legitimate)} legitimate",
                 "", f"{'family':<16}{'n':>5}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}"]
        for family, c in sorted(self.family_counts().items()):
            lines.append(f"{family:<16}{c['tp'] + c['fn']:>5}{c['tp']:>5}{c['fp']:>5}{c['fn']:>5}"
                         f"{_fmt(_precision(c)):>11}{_fmt(_recall(c)):>8}")
        lines.append("")
        for name, (rules, target) in TARGET_GROUPS.items():
            hit, total = self.group_recall(rules)
            lines.append(f"target {name:<12} recall {hit}/{total} = {_fmt(hit / total if total else 1.0)}"
                         f" (target {target:.2f})")
        blocked, must_block = self.block_recall()
        reviewed, must_review = self.review_recall()
        lines += [
            f"block recall (expected block -> block): {blocked}/{must_block} = "
            f"{_fmt(blocked / must_block if must_block else 1.0)}",
            f"review recall (expected review -> review or block): {reviewed}/{must_review} = "
            f"{_fmt(reviewed / must_review if must_review else 1.0)}",
            f"false block rate (legitimate -> block): {self.false_block_rate():.2%}",
            f"false review rate (legitimate -> review): {self.false_review_rate():.2%}",
            f"false blocks on legitimate posts: {self.false_block_rate():.2%} (target <= {MAX_FALSE_BLOCK_RATE:.0%})",
            f"reviews on legitimate posts: {self.false_review_rate():.2%}",
            f"verdict accuracy: {self.verdict_accuracy():.2%}",
            f"targets met: {'yes' if self.targets_met() else 'NO'}",
        ]
        return "\n".join(lines)


def _precision(c: Counter[str]) -> float:
    return c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0


def _recall(c: Counter[str]) -> float:
    return c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def corpus_files(path: Path) -> list[Path]:
    """A corpus file, or every `*.jsonl` of a directory (not its subdirectories)."""
    return sorted(path.glob("*.jsonl")) if path.is_dir() else [path]


def load_cases(path: Path, policies: Policies) -> list[Case]:
    """Read a corpus file, or every `*.jsonl` in a directory."""
    files = corpus_files(path)
    cases: list[Case] = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                cases.append(_case(json.loads(line), policies, f"{file.name}:{number}"))
    return cases


def _case(raw: dict[str, object], policies: Policies, where: str) -> Case:
    message = Message.model_validate(raw["message"])
    municipality = policies.get(str(raw.get("municipality", message.municipality)))
    if municipality is None:
        raise InputError(f"{where}: unknown municipality {message.municipality!r}", code="corpus_invalid")
    expect = raw["expect"]
    assert isinstance(expect, dict)
    return Case(
        id=str(raw.get("id", where)),
        message=message,
        municipality=municipality,
        accounts=resolve_accounts(message, municipality),
        verdict=Verdict(expect["verdict"]),
        families=frozenset(expect.get("families", ())),
        rules=frozenset(expect.get("rules", ())),
    )


def resolve_accounts(message: Message, municipality: Municipality) -> tuple[Account, ...]:
    """The target accounts as intake resolves them: listed ones, else every account allowing the category."""
    if message.accounts is None:
        return municipality.accounts_for(message.category)
    accounts = [municipality.account(a) for a in message.accounts]
    return tuple(a for a in accounts if a is not None)


def evaluate_file(path: Path, engine: CheckEngine, policies: Policies | None = None) -> EvaluationReport:
    policies = policies or load_policies(DEFAULT_POLICIES_DIR)
    report = EvaluationReport()
    for case in load_cases(path, policies):
        result = engine.check(CheckInput(case.message, case.municipality, case.accounts))
        # The corpora judge what a post says; whether it fits a platform (`length.*`) is measured, not judged.
        content = CheckResult.of([f for f in result.findings if not f.rule.startswith("length.")])
        report.outcomes.append(Outcome(case, content))
    return report


def main_evaluate(path: Path, engine: CheckEngine | None = None, *, verbose: bool = False) -> int:
    """Print the evaluation table; exit status 0 when the targets are met, 1 otherwise."""
    from gateway.pipeline.checks.engine import default_engine

    report = evaluate_file(path, engine or default_engine())
    print(report.render())
    if verbose:
        print("\n".join(report.misses()))
    return 0 if report.targets_met() else 1
