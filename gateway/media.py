"""The media store: the only place the gateway reads or writes a file that goes to a platform.

Files live in one directory (`GATEWAY_MEDIA_DIR`, default `<var_dir>/media`), each uploaded one as
`<id><suffix>` with a random 32-hex id. A message names a file by that id or by a path relative
to the store; a path is refused when it is absolute, has `..` or a hidden part, holds NUL, or
resolves (symlinks followed) outside the store. The type is read from the content (the signature
table below), never from a file name or a client's Content-Type, and each kind has a size limit.

Refusals are `MediaRefused` (a code and a Japanese reason); the callers turn them into the error
their side needs: `check` (intake) into `InputError` naming `media[i].id` / `media[i].path`,
`open` / `read` (adapters) into `PermanentError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gateway.errors import FieldProblem, InputError, PermanentError
from gateway.models import PLATFORM_SPECS, Media, MediaKind

MEDIA_ID = re.compile(r"[0-9a-f]{32}")
HEAD_BYTES = 16  # enough for every signature below
FLUSH_BYTES = 1024 * 1024  # an upload is written to disk (in a thread) this much at a time

# One file may go to every platform a post names: the smallest size any platform declares is the
# limit (images 5 MB, GIFs included; video 512 MB, PLATFORM_SPECS).
IMAGE_MAX_BYTES = min(d.max_image_bytes for d in PLATFORM_SPECS.values() if d.max_image_bytes is not None)
VIDEO_MAX_BYTES = min(d.max_video_bytes for d in PLATFORM_SPECS.values() if d.max_video_bytes is not None)


@dataclass(frozen=True)
class MediaType:
    content_type: str
    kind: MediaKind
    suffix: str


JPEG = MediaType("image/jpeg", MediaKind.IMAGE, ".jpg")
PNG = MediaType("image/png", MediaKind.IMAGE, ".png")
GIF = MediaType("image/gif", MediaKind.IMAGE, ".gif")
WEBP = MediaType("image/webp", MediaKind.IMAGE, ".webp")
MP4 = MediaType("video/mp4", MediaKind.VIDEO, ".mp4")
QUICKTIME = MediaType("video/quicktime", MediaKind.VIDEO, ".mov")
TYPES = (JPEG, PNG, GIF, WEBP, MP4, QUICKTIME)
SUPPORTED = "JPEG・PNG・GIF・WebP の画像、MP4・MOV（QuickTime）の動画"

# ISO base media files share one header (`....ftyp` + a major brand); only these brands are video.
# HEIF/AVIF images (heic, mif1, avif) and M4A audio use the same header and are refused.
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ",
                         b"M4VH", b"M4VP", b"dash", b"msnv", b"mmp4", b"XAVC"})


def sniff(head: bytes) -> MediaType | None:
    """The type of a file from its first bytes, or None when it is none the gateway sends."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return QUICKTIME
        return MP4 if brand in _MP4_BRANDS else None
    return None


@dataclass(frozen=True)
class StoredMedia:
    """A file of the store: its id (uploaded files), name in the store, real path, type and size."""

    id: str | None
    name: str
    path: Path
    type: MediaType
    size: int
    sha256: str | None = None

    @property
    def content_type(self) -> str:
        return self.type.content_type

    @property
    def kind(self) -> MediaKind:
        return self.type.kind


class MediaRefused(Exception):
    """Why a file cannot be used: a machine code and a Japanese reason for staff."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def id_of_name(name: str) -> str | None:
    """The id of an uploaded file's store name (`<id><suffix>`), without touching the disk."""
    stem, dot, suffix = name.partition(".")
    if dot and MEDIA_ID.fullmatch(stem) and f".{suffix}" in {t.suffix for t in TYPES}:
        return stem
    return None


PUBLIC_PATH = "/media/public/"
_SIGNED = re.compile(r"([0-9a-f]{32})-([0-9a-f]{32})(?:\.[a-z0-9]{1,5})?")


class PublicLinks:
    """Addresses at which platforms that fetch media themselves (`PlatformSpec.fetched_media`) get an uploaded file.

    `<public_url>/media/public/<id>-<signature><suffix>`: the signature (HMAC-SHA256 of the id under a
    key of the server's own) makes the address unguessable from the id, which staff see; the gateway
    serves a file only at its signed address. Without a public URL there are no such addresses."""

    def __init__(self, base_url: str, key: bytes) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = hmac.new(key, b"koho-gateway public media", hashlib.sha256).digest()

    def _signature(self, media_id: str) -> str:
        return hmac.new(self._key, media_id.encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, media_id: str, suffix: str = "") -> str:
        return f"{self.base_url}{PUBLIC_PATH}{media_id}-{self._signature(media_id)}{suffix}"

    def media_id(self, token: str) -> str | None:
        """The id a signed token names, or None for anything else."""
        match = _SIGNED.fullmatch(token)
        if match is None or not hmac.compare_digest(match.group(2), self._signature(match.group(1))):
            return None
        return match.group(1)


class MediaStore:
    def __init__(self, root: Path, *, image_max_bytes: int = IMAGE_MAX_BYTES,
                 video_max_bytes: int = VIDEO_MAX_BYTES, links: PublicLinks | None = None) -> None:
        self.root = root
        self._real_root = root.resolve()
        # DESIGN.md's example names files as `var/media/a.jpg`: the store's own (relative) directory
        # in front of a path is taken away, so that form keeps naming the same file.
        self._prefix = () if root.is_absolute() else PurePosixPath(root.as_posix()).parts
        self._limits = {MediaKind.IMAGE: image_max_bytes, MediaKind.VIDEO: video_max_bytes}
        self.links = links

    # -- writing ----------------------------------------------------------------------------------

    async def save(self, chunks: AsyncIterable[bytes]) -> StoredMedia:
        """Stream an upload into the store under a new id: type from the content, size within its kind's limit."""
        upload = await asyncio.to_thread(_Upload.start, self._ensure_root(), self._limits)
        try:
            async for chunk in chunks:
                upload.take(chunk)
                if upload.pending >= FLUSH_BYTES:
                    await asyncio.to_thread(upload.flush)
            return await asyncio.to_thread(upload.commit, secrets.token_hex(16))
        except BaseException:
            upload.discard()
            raise

    def add(self, data: bytes) -> StoredMedia:
        """Store bytes already in memory (demo, tests) exactly as an upload would be stored."""
        upload = _Upload.start(self._ensure_root(), self._limits)
        try:
            upload.take(data)
            return upload.commit(secrets.token_hex(16))
        except BaseException:
            upload.discard()
            raise

    def _ensure_root(self) -> Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.root

    # -- finding ----------------------------------------------------------------------------------

    def locate(self, media: Media) -> StoredMedia:
        """The stored file a message's media item names, checked (type from content, kind, size)."""
        handle, stored = self._open(media)
        handle.close()
        return stored

    def open_id(self, media_id: str) -> tuple[BinaryIO, StoredMedia]:
        """An uploaded file by id, opened (the console serves these); MediaRefused when the store has none."""
        return self._open_real(self._by_id(media_id), media_id)

    def resolve(self, ref: str) -> Path:
        """The real path of a store-relative path; MediaRefused unless it stays inside the store."""
        parts = _relative_parts(ref)
        if self._prefix and parts[: len(self._prefix)] == self._prefix and len(parts) > len(self._prefix):
            parts = parts[len(self._prefix):]
        return self._inside(self.root.joinpath(*parts))

    # -- the two boundaries -----------------------------------------------------------------------

    def with_public_urls(self, media: Sequence[Media]) -> tuple[Media, ...]:
        """Each uploaded item (named by id) without a `url` given one at the gateway's public address,
        when the gateway has one; others as they are. Platforms that fetch media themselves fetch it there."""
        if self.links is None:
            return tuple(media)
        out = []
        for item in media:
            if item.id is not None and item.url is None and MEDIA_ID.fullmatch(item.id):
                try:  # the stored name's suffix only: intake has already opened and typed the file
                    suffix = self._by_id(item.id).suffix
                except MediaRefused:
                    suffix = ""  # intake names the problem; no address for a file that is not there
                else:
                    item = item.model_copy(update={"url": self.links.url(item.id, suffix)})
            out.append(item)
        return tuple(out)

    def check(self, media: Sequence[Media]) -> None:
        """Intake: every item names a stored file of its kind, or InputError names each one that does not."""
        problems = []
        for index, item in enumerate(media):
            try:
                self.locate(item)
            except MediaRefused as exc:
                where = f"media[{index}].{'id' if item.id is not None else 'path'}"
                problems.append(FieldProblem(where, exc.code, exc.reason))
        if problems:
            summary = "添付ファイルを受け付けられません: " + "、".join(f"{p.field}: {p.message}" for p in problems)
            raise InputError(summary, problems, code=problems[0].code)

    def open(self, media: Media) -> tuple[BinaryIO, StoredMedia]:
        """Adapters: the file opened for reading; PermanentError (never a read) when it is refused."""
        try:
            return self._open(media)
        except MediaRefused as exc:
            code = "media_missing" if exc.code in ("not_found", "unknown_id") else "media_refused"
            raise PermanentError(f"添付ファイル「{media.label}」は送信できません: {exc.reason}", code=code) from exc

    async def read(self, media: Media) -> tuple[bytes, StoredMedia]:
        return await asyncio.to_thread(self._read, media)

    def _read(self, media: Media) -> tuple[bytes, StoredMedia]:
        handle, stored = self.open(media)
        with handle:
            return handle.read(), stored

    # -- steps ------------------------------------------------------------------------------------

    def _open(self, media: Media) -> tuple[BinaryIO, StoredMedia]:
        if media.id is not None:
            handle, stored = self._open_real(self._by_id(media.id), media.id)
        else:
            real = self.resolve(media.path or "")
            handle, stored = self._open_real(real, id_of_name(real.name) if real.parent == self._real_root else None)
        if stored.kind is not media.kind:
            handle.close()
            found = "画像" if stored.kind is MediaKind.IMAGE else "動画"
            raise MediaRefused("kind_mismatch", f"kind は {media.kind.value} ですが、ファイルの内容は{found}"
                                                f"（{stored.content_type}）です")
        return handle, stored

    def _by_id(self, media_id: str) -> Path:
        if not MEDIA_ID.fullmatch(media_id):
            raise MediaRefused("unknown_id", "id の形式が正しくありません（POST /api/v1/media が返す32桁の16進数）")
        for media_type in TYPES:
            with contextlib.suppress(MediaRefused):
                return self._inside(self.root / f"{media_id}{media_type.suffix}")
        raise MediaRefused("unknown_id", "この id のファイルはメディアストアにありません（POST /api/v1/media で"
                                         "アップロードしてください）")

    def _inside(self, candidate: Path) -> Path:
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            raise MediaRefused("not_found", "メディアストアにこのファイルはありません") from None
        if not real.is_relative_to(self._real_root) or real == self._real_root:
            raise MediaRefused("outside_store", "メディアストアの外のファイルは指定できません")
        return real

    def _open_real(self, real: Path, media_id: str | None) -> tuple[BinaryIO, StoredMedia]:
        # O_NOFOLLOW: a symlink put in place after resolving is not followed; O_NONBLOCK: a FIFO
        # cannot hang the open (it is refused below as not a regular file).
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise MediaRefused("not_found", "メディアストアにこのファイルはありません") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise MediaRefused("not_a_file", "ファイルではありません")
        os.set_blocking(fd, True)  # readers such as MediaIoBaseUpload need a blocking file
        handle = os.fdopen(fd, "rb")
        try:
            return handle, self._inspect(handle, info.st_size, real, media_id)
        except BaseException:
            handle.close()
            raise

    def _inspect(self, handle: BinaryIO, size: int, real: Path, media_id: str | None) -> StoredMedia:
        media_type = sniff(handle.read(HEAD_BYTES))
        handle.seek(0)
        if media_type is None:
            raise MediaRefused("unsupported_type", f"対応していない形式です（{SUPPORTED}のみ）")
        _within_limit(size, media_type, self._limits)
        return StoredMedia(media_id, real.name, real, media_type, size)


def _relative_parts(ref: str) -> tuple[str, ...]:
    if not ref or "\x00" in ref:
        raise MediaRefused("invalid_path", "パスが空か、使えない文字（NUL）を含んでいます")
    path = PurePosixPath(ref)
    if path.is_absolute() or ref.startswith("~"):
        raise MediaRefused("absolute_path", "絶対パスは指定できません。メディアストアからの相対パスか、"
                                            "POST /api/v1/media で得た id を指定してください")
    if ".." in path.parts:
        raise MediaRefused("path_traversal", "「..」を含むパスは指定できません")
    if any(part.startswith(".") for part in path.parts) or not path.parts:
        raise MediaRefused("invalid_path", "「.」で始まる名前（隠しファイル）は指定できません")
    return path.parts


def _within_limit(size: int, media_type: MediaType, limits: dict[MediaKind, int]) -> None:
    limit = limits[media_type.kind]
    if size > limit:
        what = "画像" if media_type.kind is MediaKind.IMAGE else "動画"
        raise MediaRefused("too_large", f"{what}は {limit // (1024 * 1024)}MB までです（{size:,} バイト）")


class _Upload:
    """One upload being written: a 0600 temporary file in the store, renamed into place when complete."""

    def __init__(self, root: Path, limits: dict[MediaKind, int]) -> None:
        fd, name = _temporary(root)
        self._file = os.fdopen(fd, "wb")
        self._temp = Path(name)
        self._root = root
        self._limits = limits
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._head = b""
        self._type: MediaType | None = None
        self.size = 0

    @classmethod
    def start(cls, root: Path, limits: dict[MediaKind, int]) -> _Upload:
        return cls(root, limits)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def take(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)
        self._buffer += chunk
        if self._type is None and len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self._type = _identified(self._head)
        if self._type is not None:
            _within_limit(self.size, self._type, self._limits)

    def flush(self) -> None:
        self._file.write(self._buffer)
        self._buffer.clear()

    def commit(self, media_id: str) -> StoredMedia:
        if self.size == 0:
            raise MediaRefused("empty", "ファイルが空です")
        media_type = self._type or _identified(self._head)
        self.flush()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self._root / f"{media_id}{media_type.suffix}"
        os.replace(self._temp, target)
        _sync_directory(self._root)
        return StoredMedia(media_id, target.name, target.resolve(), media_type, self.size, self._hash.hexdigest())

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()


def _temporary(root: Path) -> tuple[int, str]:
    # mkstemp creates the file 0600; the leading dot keeps it out of reach of store paths.
    return tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=root)


def _identified(head: bytes) -> MediaType:
    media_type = sniff(head)
    if media_type is None:
        raise MediaRefused("unsupported_type", f"対応していない形式です（{SUPPORTED}のみ）")
    return media_type


def _sync_directory(path: Path) -> None:
    """Make a rename durable: a crash right after it must not lose the new name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
