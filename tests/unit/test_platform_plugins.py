"""Platforms as plug-ins (issue 14): what the rest of the gateway knows of a platform it asks `Platform.spec`
(models.PLATFORM_SPECS) or the adapter; outside `gateway/adapters/`, `gateway/sandbox/` and models.py no module
names a platform in code, and every platform declares everything the gateway asks of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway.adapters import adapter_types
from gateway.alerts import fit
from gateway.models import PLATFORM_SPECS, Media, MediaKind, Platform

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
ALLOWED = ("adapters", "sandbox")
MEMBERS = {p.name for p in Platform}
VALUES = {p.value for p in Platform}


def _outside_modules() -> list[Path]:
    return sorted(path for path in GATEWAY.rglob("*.py")
                  if path.relative_to(GATEWAY).parts[0] not in ALLOWED and path.name != "models.py")


def _platform_mentions(tree: ast.AST) -> list[tuple[int, str]]:
    """`Platform.X`-style members and string literals equal to a platform's value, where code compares or keys."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Platform"
                and node.attr in MEMBERS):
            found.append((node.lineno, f"Platform.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in VALUES:
            found.append((node.lineno, repr(node.value)))
    return found


def test_no_module_outside_adapters_and_sandbox_names_a_platform() -> None:
    offenders = [f"{path.relative_to(GATEWAY)}:{line}: {what}" for path in _outside_modules()
                 for line, what in _platform_mentions(ast.parse(path.read_text(encoding="utf-8")))]
    assert offenders == []


def test_the_detector_finds_a_platform_named_in_code() -> None:
    tree = ast.parse('if account.platform is Platform.LINE or kind == "instagram":\n    pass\n')
    assert [what for _, what in _platform_mentions(tree)] == ["Platform.LINE", "'instagram'"]


def test_every_platform_declares_a_spec_and_has_an_adapter_with_those_limits() -> None:
    adapters = adapter_types()
    assert set(PLATFORM_SPECS) == set(Platform) == set(adapters)
    for platform, declared in PLATFORM_SPECS.items():
        assert declared.platform is platform and platform.spec is declared
        assert adapters[platform].platform is platform
        assert adapters[platform].limits == declared.limits
        assert declared.label and declared.credential_fields and all(declared.credential_fields)


def test_x_limit_is_twitter_texts() -> None:
    from gateway.adapters.render import X_MAX_WEIGHTED

    assert Platform.X.spec.limits.max_text == X_MAX_WEIGHTED


def test_text_only_alerts_go_to_the_platforms_that_carry_them() -> None:
    # A video platform and a photo platform skip a text-only alert (with a reason); the others carry it.
    assert {Platform.X, Platform.LINE, Platform.FACEBOOK} == fit.TEXT_PLATFORMS


@pytest.mark.parametrize(("url", "fetchable"), [
    ("https://example.jp/a.jpg", True), ("http://example.jp/a.jpg", False), (None, False),
])
def test_one_rule_for_media_a_platform_fetches(url: str | None, fetchable: bool) -> None:
    image = Media(kind=MediaKind.IMAGE, path="a.jpg", url=url, alt_text="海岸の風景の写真")
    for platform in (Platform.LINE, Platform.INSTAGRAM):
        assert platform.spec.fetchable(image) is fetchable
        assert platform.spec.unfetchable(image) is not fetchable
    assert not Platform.X.spec.unfetchable(image)  # X uploads the file itself


def test_languages_together_or_one_post_each() -> None:
    languages = ("ja", "ja-easy", "en")
    assert Platform.LINE.spec.language_groups(languages) == [languages]
    assert Platform.X.spec.language_groups(languages) == [("ja",), ("ja-easy",), ("en",)]
    assert Platform.LINE.spec.language_groups(()) == []
