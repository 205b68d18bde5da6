"""Alert intake: JMA 防災情報XML, L-Alert (EDXL-DE, also in SOAP), OASIS CAP 1.1/1.2 and the
gateway's own JSON → `Alert` → Japanese posts per municipality and account.

Modules: xmlsafe (defusedxml, size limit), detect (format by root namespace), jma / edxl / cap /
jsonalert (one parser each), terms (legal terms, intensity), kinds (free text → kind), areas
(addressing), templates + draft + fit (texts), plan (posts per account), dryrun.
"""

from gateway.alerts.areas import addressed_municipalities, addressed_to
from gateway.alerts.detect import parse_alert
from gateway.alerts.dryrun import DryRunResult, dry_run
from gateway.alerts.model import Alert, AlertArea
from gateway.alerts.plan import AlertPost, CityPlan, plan_for, posts_for, target_accounts

__all__ = [
    "Alert", "AlertArea", "AlertPost", "CityPlan", "DryRunResult", "addressed_municipalities", "addressed_to",
    "dry_run", "parse_alert", "plan_for", "posts_for", "target_accounts",
]
