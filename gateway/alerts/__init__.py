"""Alert intake: JMA 防災情報XML, L-Alert (EDXL-DE, also in SOAP), OASIS CAP 1.1/1.2 and the
gateway's own JSON → `Alert` (one meaning model: issue, update, lift, ended, cancel) → Japanese posts
per municipality and account.

Modules: xmlsafe (defusedxml, size limit), detect (format by root namespace), jma / jma_weather /
jma_earth / edxl / cap / jsonalert (one parser each), terms (legal terms, intensity), kinds (free
text → kind), areas and seismic_regions (addressing), route (what a caller's choice of municipality
may do), freshness (stale, expired and future-dated alerts), templates + draft + fit (texts), plan
(posts per account), dryrun.
"""

from gateway.alerts.areas import addressed_municipalities, addressed_to
from gateway.alerts.detect import parse_alert, parse_document
from gateway.alerts.dryrun import DryRunResult, dry_run
from gateway.alerts.model import Alert, AlertArea
from gateway.alerts.plan import AlertPost, CityPlan, plan_for, posts_for, target_accounts

__all__ = [
    "Alert", "AlertArea", "AlertPost", "CityPlan", "DryRunResult", "addressed_municipalities", "addressed_to",
    "dry_run", "parse_alert", "parse_document", "plan_for", "posts_for", "target_accounts",
]
