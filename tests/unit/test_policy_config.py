"""The five municipality files load and say what the seed policies say; bad files fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.errors import InputError
from gateway.models import PreauthorizedKind, ShareSourceClass
from gateway.policy import DEFAULT_ALERT_KINDS, Municipality, Policies, load_municipality, load_policies

CONFIG = Path(__file__).resolve().parents[2] / "config" / "municipalities"

CLAUSE_KEYS = (
    "confidential", "personal", "political", "religious", "bias", "discrimination", "illegal", "rumour",
    "provocation", "obscene", "malware", "public_order", "accessibility", "categories", "shares", "links",
)

EXPECTED_ACCOUNTS = {
    "atsugi": {"atsugi_x", "atsugi_pr_x", "atsugi_instagram", "atsugi_line", "atsugi_youtube",
               "atsugi_live_youtube"},
    "kisarazu": {"kisarazu_facebook", "kisarazu_x", "kisarazu_youtube", "kisarazu_line", "kisarazu_en_x"},
    "zushi": {"zushi_facebook", "zushi_x"},
    "mine": {"mine_facebook", "mine_x", "mine_instagram"},
    "kodaira": {"kodaira_x", "kodaira_mayor_x", "kodaira_facebook", "kodaira_youtube"},
}

AREA_CODES = {"atsugi": "14212", "kisarazu": "12206", "zushi": "14208", "mine": "35213", "kodaira": "13211"}


@pytest.fixture(scope="module")
def policies() -> Policies:
    return load_policies(CONFIG)


def city(policies: Policies, municipality_id: str) -> Municipality:
    municipality = policies.get(municipality_id)
    assert municipality is not None
    return municipality


def test_the_five_files_load(policies: Policies) -> None:
    assert policies.ids() == sorted(EXPECTED_ACCOUNTS)
    for municipality in policies:
        assert {a.id for a in municipality.accounts} == EXPECTED_ACCOUNTS[municipality.id]


def test_account_ids_follow_the_design_rule(policies: Policies) -> None:
    for municipality in policies:
        for account in municipality.accounts:
            platform = account.platform.value
            if account.purpose == "main":
                assert account.id == f"{municipality.id}_{platform}"
            else:
                assert re.fullmatch(rf"{municipality.id}_[a-z0-9]+_{platform}", account.id)
                assert account.id == f"{municipality.id}_{account.purpose}_{platform}"


def test_handles_from_the_seeds(policies: Policies) -> None:
    handles = {a.id: a.handle for m in policies for a in m.accounts}
    assert handles["atsugi_x"] == "@AtsugiCity"
    assert handles["atsugi_pr_x"] == "@AtsugiCity_PR"
    assert handles["kisarazu_facebook"] == "city.kisarazu"
    assert handles["kisarazu_x"] == "@kisarazu_city"
    assert handles["kodaira_x"] == "kodaira_tokyo"
    assert handles["kodaira_mayor_x"] == "hisyo_kodaira_tokyo"
    assert handles["kodaira_facebook"] == "koho.kodairacity"


def test_kodaira_mayor_account_carries_only_mayor(policies: Policies) -> None:
    kodaira = city(policies, "kodaira")
    mayor = kodaira.account("kodaira_mayor_x")
    assert mayor is not None and mayor.categories == ("mayor",)
    assert [a.id for a in kodaira.accounts_for("mayor")] == ["kodaira_mayor_x"]
    youtube = kodaira.account("kodaira_youtube")
    assert youtube is not None and set(youtube.categories) == {"tourism", "other"}
    assert "5(4)" in youtube.categories_clause


def test_content_clauses_map_to_categories(policies: Policies) -> None:
    atsugi_x = city(policies, "atsugi").account("atsugi_x")
    assert atsugi_x is not None
    assert set(atsugi_x.categories) == {"city_news", "disaster_prevention", "emergency", "tourism", "other"}
    for account in city(policies, "mine").accounts:
        assert {"share", "jobs", "regional_event", "emergency"} <= set(account.categories)
        assert account.categories_clause.endswith("第4-2(2)")


def test_every_city_has_emergency_accounts(policies: Policies) -> None:
    for municipality in policies:
        carriers = municipality.accounts_for("emergency")
        assert carriers, municipality.id
        for account_id in municipality.alerts.accounts:
            account = municipality.account(account_id)
            assert account is not None and account.allows("emergency")


def test_every_clause_is_present_and_cites_its_own_policy(policies: Policies) -> None:
    for municipality in policies:
        texts = [municipality.hours.clause, municipality.approval.clause, municipality.credentials.clause,
                 municipality.shares.clause, municipality.links.clause,
                 *(a.categories_clause for a in municipality.accounts)]
        for key in CLAUSE_KEYS:
            assert municipality.clauses.get(key, "").strip(), f"{municipality.id}: clauses.{key}"
            texts.append(municipality.clauses[key])
        for text in texts:
            assert text.strip() and text.startswith(municipality.name), (municipality.id, text)


def test_specific_clauses(policies: Policies) -> None:
    zushi, mine = city(policies, "zushi"), city(policies, "mine")
    assert zushi.clause("political") == "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)ア(カ)"
    assert zushi.clause("provocation") == "逗子市ソーシャルメディア利活用ガイドライン 3-1(2)イ"
    assert zushi.clause("accessibility") == "逗子市ソーシャルメディア利活用ガイドライン 3-4(4)"
    assert mine.clause("political") == "美祢市公式アカウントソーシャルメディア運用方針 第4-4(4)イ"
    assert mine.clause("rumour") == "美祢市公式アカウントソーシャルメディア運用方針 第4-4(4)エ"


def test_hours(policies: Policies) -> None:
    kisarazu, zushi, kodaira = (city(policies, i).hours for i in ("kisarazu", "zushi", "kodaira"))
    assert (str(kisarazu.open), str(kisarazu.close)) == ("08:30:00", "17:15:00")
    assert (str(zushi.open), str(zushi.close)) == ("08:30:00", "17:00:00") and zushi.closed_on_holidays
    assert kodaira.year_end_closure and kodaira.closed_on_holidays and "3(5)" in kodaira.clause
    for silent in ("atsugi", "mine"):
        assert "規定なし" in city(policies, silent).hours.clause


def test_approval(policies: Policies) -> None:
    zushi, mine, atsugi = (city(policies, i).approval for i in ("zushi", "mine", "atsugi"))
    assert set(zushi.preauthorized) == set(PreauthorizedKind)
    assert zushi.preauthorized_clause is not None and "3-2(1)ウ" in zushi.preauthorized_clause
    assert mine.mode == "official_view_only" and mine.clause.endswith("第4-6")
    assert atsugi.mode == "four_eyes" and atsugi.shares_need_approval
    assert atsugi.shares_clause is not None and atsugi.shares_clause.endswith("8(2)")
    for other in ("atsugi", "kisarazu", "zushi", "kodaira"):
        assert city(policies, other).approval.mode == "four_eyes"


def test_credentials_and_shares(policies: Policies) -> None:
    kisarazu = city(policies, "kisarazu").credentials
    assert (kisarazu.rotation_days, kisarazu.min_length) == (365, 8)
    mine_shares = city(policies, "mine").shares
    assert set(mine_shares.allowed_classes) == set(ShareSourceClass)
    assert {"Mineコレクション", "やまぐち食彩店"} <= set(mine_shares.allowed_sources)
    kodaira_shares = city(policies, "kodaira").shares
    assert kodaira_shares.public_bodies_only
    assert kodaira_shares.allowed_classes == (ShareSourceClass.PUBLIC_BODY,)


def test_links_contacts_alerts(policies: Policies) -> None:
    for municipality in policies:
        domains = municipality.links.allowed_domains
        assert {"lg.jp", "go.jp"} <= set(domains)
        assert any(d.startswith(f"city.{municipality.id}.") for d in domains)
        assert municipality.contacts.phone_numbers
        assert municipality.alerts.area_codes == (AREA_CODES[municipality.id],)
        assert municipality.alerts.area_names == (municipality.name,)
        assert set(municipality.alerts.kinds) == set(DEFAULT_ALERT_KINDS)
        assert municipality.alerts.drill_accounts == ()


# --- bad files ------------------------------------------------------------------------------------------


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (CONFIG / "kodaira.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "kodaira.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_municipality(path)
    message = caught.value.message
    assert str(path) in message
    return message


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'name = "小平市"', 'name = "小平市')
    message = _load_error(path)
    assert "TOML" in message and "line" in message


def test_unknown_category_names_the_account_key(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'categories = ["mayor"]', 'categories = ["mayor", "gossip"]')
    message = _load_error(path)
    assert "accounts[kodaira_mayor_x].categories" in message
    assert "gossip" in message


def test_wrong_account_id_names_the_account_key(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'id = "kodaira_mayor_x"', 'id = "kodaira_mayorx_x"')
    message = _load_error(path)
    assert "accounts[kodaira_mayorx_x].id" in message
    assert "must be 'kodaira_mayor_x'" in message


def test_missing_hours_clause(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'clause = "小平市ソーシャルメディア運用ポリシー 3(5)、4(6)、5(6)"\n', "")
    message = _load_error(path)
    assert "hours.clause" in message and "Field required" in message


def test_duplicate_account(tmp_path: Path) -> None:
    mayor = 'id = "kodaira_mayor_x"\nplatform = "x"\nhandle = "hisyo_kodaira_tokyo"\npurpose = "mayor"'
    path = _write_variant(tmp_path, mayor, 'id = "kodaira_x"\nplatform = "x"\nhandle = "hisyo_kodaira_tokyo"')
    message = _load_error(path)
    assert "accounts[kodaira_x].id" in message and "appears twice" in message


def test_alert_account_must_exist(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "drill_accounts = []", 'drill_accounts = ["kodaira_line"]')
    message = _load_error(path)
    assert "alerts.drill_accounts" in message and "kodaira_line" in message


def test_file_name_must_match_id(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text((CONFIG / "kodaira.toml").read_text(encoding="utf-8"), encoding="utf-8")
    message = _load_error(path)
    assert "id" in message and "file name" in message


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="toml"):
        load_policies(tmp_path)
