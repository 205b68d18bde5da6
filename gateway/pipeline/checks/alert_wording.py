"""Routine posts that read like an alert (an evacuation order, a tsunami or missile warning, terror).

A city once sent a false terror alert from its routine LINE account. Alerts reach residents through
the emergency lane (priority emergency: alert systems, and staff permitted to post emergencies); a
routine post that announces an order or a warning gets a `review` finding, so an approver confirms
it is an explanation, a drill notice or a report of the past — never a misfire. The wording rules
are the `alert_wording` family of the lexicon (config/lexicons/default.toml).
"""

from __future__ import annotations

from gateway.models import Finding, Priority
from gateway.pipeline.checks.context import Prepared

FAMILIES = ("alert_wording",)


def check(ctx: Prepared) -> list[Finding]:
    if ctx.message.priority is Priority.EMERGENCY:
        return []
    return ctx.rule_findings(*FAMILIES)
