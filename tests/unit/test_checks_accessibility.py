"""Accessibility: meaningful alt text within each target platform's limit."""

from __future__ import annotations

import pytest

from gateway.models import Message, Platform, Severity, Verdict
from gateway.pipeline.checks import CheckEngine, CheckInput
from tests.unit.test_checks_fixtures import check, municipality, only


def _img(alt: str | None) -> dict[str, object]:
    return {"kind": "image", "path": "var/media/photo01.jpg", "alt_text": alt}


@pytest.mark.parametrize("alt", [None, "", "  ", "IMG_2034.JPG", "photo01.jpg", "DSC_0001", "画像", "写真①",
                                 "ｉｍａｇｅ　２", "チラシ", "イメージ図です"])
def test_meaningless_alt_text_blocks(alt: str | None) -> None:
    found = only(check("写真です", media=[_img(alt)]), "accessibility.alt_text")
    assert found and found[0].severity is Severity.BLOCK and found[0].start is None


def test_descriptive_alt_text_and_video_pass() -> None:
    media = [_img("朝の逗子海岸。波打ち際の向こうに雪をかぶった富士山が見える"), {"kind": "video", "path": "v.mp4"}]
    assert check("今朝の海岸", media=media).verdict is Verdict.PASS


def test_limit_per_target_platform_names_the_account() -> None:
    alt = "海岸の風景" * 220  # 1,100 characters: over X's 1,000, under LINE's 1,500
    result = check("海岸", media=[_img(alt)], accounts=["testcity_x", "testcity_line"])
    found = only(result, "accessibility.alt_text_length")
    assert [f.account for f in found] == ["testcity_x"]


def test_limits_can_come_from_the_adapters() -> None:
    engine = CheckEngine(alt_text_limits={Platform.X: 10})
    city = municipality()

    media = [_img("海岸の風景を撮影した写真です")]
    message = Message(municipality=city.id, category="city_news", text="海岸", media=media)
    result = engine.check(CheckInput(message, city, (city.accounts[0],)))
    assert only(result, "accessibility.alt_text_length")
