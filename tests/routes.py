"""A copy of the seed cities' configuration with an approval route for 厚木 (for tests of routes).

厚木's route: 所属長 (any approver of the city) → 広報主管課長 (the user `kacho`), and, with
`manager_last`, the accounts' 運用責任者 (the user `sekinin`) as the last step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config" / "municipalities"

ROUTE = """
[[approval.steps]]
name = "所属長"
roles = ["approver"]

[[approval.steps]]
name = "広報主管課長"
users = ["kacho"]
"""


def config_with_route(directory: Path, *, manager_last: bool = False) -> Path:
    """The seed configuration under `directory`, 厚木 with the route above."""
    shutil.copytree(CONFIG, directory, dirs_exist_ok=True)
    path = directory / "atsugi.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('shares_clause = "厚木市ソーシャルメディア運用ポリシー 8(2)"\n',
                        'shares_clause = "厚木市ソーシャルメディア運用ポリシー 8(2)"\n'
                        + ("manager_last = true\n" if manager_last else ""), 1)
    if manager_last:
        text = text.replace('manager = "広報主管課長"\n', 'manager = "広報主管課長"\nmanager_users = ["sekinin"]\n')
    head, sep, accounts = text.partition("\n[[accounts]]")
    path.write_text(head + "\n" + ROUTE + sep + accounts, encoding="utf-8")
    return directory
