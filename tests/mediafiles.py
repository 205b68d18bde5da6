"""Media for tests: the fixture files under tests/fixtures/media, read through a media store rooted there."""

from __future__ import annotations

from pathlib import Path

from gateway.media import MediaStore

FIXTURE_MEDIA = Path(__file__).resolve().parent / "fixtures" / "media"
PNG = (FIXTURE_MEDIA / "city.png").read_bytes()  # a real 8x8 PNG


def fixture_store() -> MediaStore:
    """A store over the fixture files (city.png, park.png, clip.mp4), named by paths relative to it."""
    return MediaStore(FIXTURE_MEDIA)
