"""The media store on a real file system: content sniffing, size limits, atomic 0600 writes, and a
resolver that never leaves the store (hypothesis fuzzes it with hostile paths and symlinks)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import InputError, PermanentError
from gateway.media import (
    GIF,
    IMAGE_MAX_BYTES,
    JPEG,
    MP4,
    PNG,
    QUICKTIME,
    VIDEO_MAX_BYTES,
    WEBP,
    MediaRefused,
    MediaStore,
    id_of_name,
    sniff,
)
from gateway.models import Media, MediaKind
from tests.mediafiles import FIXTURE_MEDIA

PNG_BYTES = (FIXTURE_MEDIA / "city.png").read_bytes()
SAMPLES = {
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32), JPEG),
    "png": (PNG_BYTES, PNG),
    "gif87": (b"GIF87a" + bytes(32), GIF),
    "gif89": (b"GIF89a" + bytes(32), GIF),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32), WEBP),
    "mp4-isom": ((FIXTURE_MEDIA / "clip.mp4").read_bytes()[:64], MP4),
    "mp4-mp42": (b"\x00\x00\x00\x18ftypmp42" + bytes(32), MP4),
    "mov": (b"\x00\x00\x00\x14ftypqt  " + bytes(32), QUICKTIME),
}
REFUSED = {
    "text": b"just some text that says it is a picture",
    "html": b"<!doctype html><script>alert(1)</script>",
    "pdf": b"%PDF-1.7\n" + bytes(32),
    "heic-image": b"\x00\x00\x00\x18ftypheic" + bytes(32),
    "avif-image": b"\x00\x00\x00\x1cftypavif" + bytes(32),
    "m4a-audio": b"\x00\x00\x00\x20ftypM4A " + bytes(32),
    "riff-wave": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32),
    "short": b"\xff\xd8",
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sniff_reads_the_type_from_the_content(name: str) -> None:
    data, expected = SAMPLES[name]
    assert sniff(data[:16]) == expected


@pytest.mark.parametrize("name", list(REFUSED))
def test_sniff_refuses_everything_else(name: str) -> None:
    assert sniff(REFUSED[name][:16]) is None


def test_limits_are_the_platform_figures() -> None:
    assert IMAGE_MAX_BYTES == 5 * 1024 * 1024 and VIDEO_MAX_BYTES == 512 * 1024 * 1024


def test_added_file_is_named_by_id_typed_by_content_and_private(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    stored = store.add(PNG_BYTES)
    assert stored.id is not None and id_of_name(stored.name) == stored.id
    assert stored.name == f"{stored.id}.png" and stored.content_type == "image/png" and stored.kind is MediaKind.IMAGE
    assert stored.size == len(PNG_BYTES) and stored.sha256 is not None
    assert stat.S_IMODE(os.stat(stored.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert [p.name for p in store.root.iterdir()] == [stored.name]  # no temporary file left behind


def test_a_png_named_jpg_is_a_png(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(PNG_BYTES)
    assert store.locate(Media(kind=MediaKind.IMAGE, path="photo.jpg")).content_type == "image/png"


def test_a_text_file_named_jpg_is_refused(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(REFUSED["text"])
    with pytest.raises(MediaRefused) as caught:
        store.locate(Media(kind=MediaKind.IMAGE, path="photo.jpg"))
    assert caught.value.code == "unsupported_type"
    with pytest.raises(MediaRefused):
        store.add(REFUSED["text"])
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]  # the refused upload left nothing


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.mark.parametrize(("kind", "head"), [("image", PNG_BYTES[:16]), ("video", SAMPLES["mp4-mp42"][0][:16])])
async def test_size_limits_per_kind_stop_the_upload_and_leave_nothing(tmp_path: Path, kind: str, head: bytes) -> None:
    store = MediaStore(tmp_path, image_max_bytes=4000, video_max_bytes=9000)
    limit = 4000 if kind == "image" else 9000
    exact = await store.save(_chunks(head + bytes(limit - len(head))))
    assert exact.size == limit
    with pytest.raises(MediaRefused) as caught:
        await store.save(_chunks(head + bytes(limit + 1 - len(head))))
    assert caught.value.code == "too_large"
    assert sorted(p.name for p in tmp_path.iterdir()) == [exact.name]


async def test_empty_upload_is_refused(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(MediaRefused) as caught:
        await store.save(_chunks(b""))
    assert caught.value.code == "empty"
    assert list(tmp_path.iterdir()) == []


def test_kind_must_match_the_content(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    stored = store.add(PNG_BYTES)
    with pytest.raises(InputError) as caught:
        store.check([Media(kind=MediaKind.IMAGE, id=stored.id), Media(kind=MediaKind.VIDEO, id=stored.id)])
    [problem] = caught.value.problems
    assert problem.field == "media[1].id" and problem.code == "kind_mismatch" and "画像" in problem.message


def test_adapters_get_permanent_errors_not_reads(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    (tmp_path / "secret").write_bytes(PNG_BYTES)
    for path in ("../secret", str(tmp_path / "secret"), "missing.png"):
        with pytest.raises(PermanentError) as caught:
            store.open(Media(kind=MediaKind.IMAGE, path=path))
        assert caught.value.code in ("media_refused", "media_missing")


def test_design_example_prefix_names_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = MediaStore(Path("var/media"))
    stored = store.add(PNG_BYTES)
    for path in (stored.name, f"var/media/{stored.name}"):
        assert store.locate(Media(kind=MediaKind.IMAGE, path=path)).path == stored.path


def test_a_fifo_or_directory_is_not_a_file(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "dir.png").mkdir()
    for name in ("pipe.png", "dir.png"):
        with pytest.raises(MediaRefused) as caught:
            store.locate(Media(kind=MediaKind.IMAGE, path=name))
        assert caught.value.code == "not_a_file", name


# -- the resolver under fuzz ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[MediaStore, set[Path]]:
    """A store full of ways out: symlinks to a secret, to its parent, to /etc; a secret beside it."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "secret.png").write_bytes(PNG_BYTES)
    root = base / "store"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(PNG_BYTES)
    (root / "sub" / "b.png").write_bytes(PNG_BYTES)
    (root / "inside-link.png").symlink_to(root / "a.png")
    (root / "out.png").symlink_to(base / "secret.png")
    (root / "up").symlink_to(base)
    (root / "etc").symlink_to("/etc")
    (root / "loop").symlink_to(root / "loop")
    (root / ".upload-x.part").write_bytes(PNG_BYTES)
    allowed = {(root / "a.png").resolve(), (root / "sub" / "b.png").resolve()}
    return MediaStore(root), allowed


_SEGMENTS = st.sampled_from(["..", ".", "", "a.png", "sub", "b.png", "up", "out.png", "etc", "passwd", "loop",
                             "inside-link.png", "secret.png", "store", "~", "%2e%2e", ".upload-x.part", "\x00",
                             "a.png\x00.jpg", "\\..\\", "…", "．．"])
_PATHS = st.one_of(
    st.lists(_SEGMENTS, max_size=6).map("/".join),
    st.lists(_SEGMENTS, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ref=_PATHS)
def test_resolver_never_leaves_the_store(hostile: tuple[MediaStore, set[Path]], ref: str) -> None:
    store, allowed = hostile
    try:
        real = store.resolve(ref)
    except MediaRefused:
        return
    assert real.is_relative_to(store.root.resolve()), (ref, real)
    try:
        located = store.locate(Media(kind=MediaKind.IMAGE, path=ref))
    except MediaRefused:
        return
    assert located.path in allowed, (ref, located.path)
