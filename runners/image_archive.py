"""Validate an uploaded algorithm image archive before it is ever given to Docker.

Participants upload ``docker save IMAGE | gzip > algorithm.tar.gz`` (or the plain ``.tar``). This module
reads such a file in ONE streaming pass, without extracting anything to disk and without holding large
members in memory, and refuses anything Docker should never see: files that are not tar archives,
truncated or corrupt data, decompression bombs, path traversal, links that escape the archive, device
nodes, archives without exactly one image, and images that are not linux/amd64.

Both layouts written by ``docker save`` are understood:

* legacy (Docker <= 24): ``manifest.json``, ``repositories``, ``<id>.json``, ``<id>/layer.tar``;
* OCI (Docker >= 25): ``oci-layout``, ``index.json``, ``blobs/sha256/<hex>`` and a ``manifest.json``
  whose ``Config``/``Layers`` name blobs (legacy names may be symlinks to blobs).

This is a pure library: it imports neither docker nor flask nor anything from ``app``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Self, cast

__all__ = [
    "ImageArchiveInfo",
    "ImageArchiveLimits",
    "InvalidImageArchive",
    "sha256_file",
    "validate_image_archive",
]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

HOW_TO = "docker save IMAGE | gzip > algorithm.tar.gz"

_CHUNK = 1 * MiB
_KEEP_MAX_MEMBER_BYTES = 4 * MiB  # small members that may be JSON are kept in memory ...
_KEEP_MAX_TOTAL_BYTES = 64 * MiB  # ... up to this much in total
_RATIO_GRACE_BYTES = 64 * MiB  # the compression ratio is only judged after this much output
_MAX_EXTENDED_HEADER_BYTES = 1 * MiB  # pax headers and GNU long names are read into memory by tarfile
_MAX_LINK_HOPS = 40
_EXTENDED_HEADER_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)
# tarfile's finer header errors: defined by tarfile but not exported, so typeshed's stub leaves them out.
_END_OF_ARCHIVE_ERRORS: tuple[type[tarfile.HeaderError], ...] = (
    vars(tarfile)["EOFHeaderError"],
    vars(tarfile)["EmptyHeaderError"],
)
_TRUNCATED_HEADER_ERROR: type[tarfile.HeaderError] = vars(tarfile)["TruncatedHeaderError"]
# gzip and zstd: a layer stored compressed inside the archive (its diff_id names the decompressed tar).
_COMPRESSED_LAYER_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd")
_SHA256_NAME = re.compile(r"^(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?$")

REQUIRED_OS = "linux"
REQUIRED_ARCHITECTURE = "amd64"


class InvalidImageArchive(ValueError):
    """The upload is not an acceptable image archive. The message is shown to the participant verbatim."""


@dataclass(frozen=True)
class ImageArchiveLimits:
    max_archive_bytes: int = 4 * GiB
    max_uncompressed_bytes: int = 16 * GiB
    max_members: int = 100_000
    max_compression_ratio: float = 200.0  # uncompressed bytes / compressed bytes


@dataclass(frozen=True)
class ImageArchiveInfo:
    repo_tags: list[str]
    config_digest: str  # "sha256:<hex>" of the config JSON bytes
    layer_count: int
    architecture: str
    os: str
    uncompressed_bytes: int
    compressed: bool
    user: str  # config.User, may be ""
    entrypoint: list[str] | None
    cmd: list[str] | None
    # Every layer's content hashed to the diff_id the config names for it: then config_digest identifies the
    # image layer for layer, and an engine image with that id may stand in for the archive (no `docker load`).
    # False when a layer is stored compressed inside the archive (not hashed here; `docker load` checks it).
    layers_verified: bool = False


def sha256_file(path: Path) -> str:
    """Return ``sha256:<hex>`` of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def validate_image_archive(path: Path, limits: ImageArchiveLimits = ImageArchiveLimits()) -> ImageArchiveInfo:
    """Check an uploaded ``docker save`` archive (gzip-compressed or plain tar) and describe its image.

    Raises InvalidImageArchive, whose message tells the participant what is wrong and what to do.
    """
    path = Path(path)
    _check_file_size(path, limits)
    compressed = _detect_compression(path)
    meter = _Meter(limits)
    with path.open("rb") as raw:
        stream = _GzipStream(raw, meter) if compressed else _PlainStream(raw, meter)
        archive = _scan(stream, limits)
    return _inspect(archive, uncompressed_bytes=meter.uncompressed, compressed=compressed)


# --------------------------------------------------------------------------------------------- the file


def _check_file_size(path: Path, limits: ImageArchiveLimits) -> None:
    if not path.is_file():
        raise InvalidImageArchive(f"no archive was uploaded; upload the output of: {HOW_TO}")
    size = path.stat().st_size
    if size == 0:
        raise InvalidImageArchive(f"the uploaded file is empty; upload the output of: {HOW_TO}")
    if size > limits.max_archive_bytes:
        raise InvalidImageArchive(
            f"the archive is {_human(size)}, bigger than the {_human(limits.max_archive_bytes)} allowed; "
            "make the image smaller (e.g. a slim base image, no build tools or caches) and upload it again"
        )


_OTHER_COMPRESSIONS = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
}


def _detect_compression(path: Path) -> bool:
    """True for gzip, False for a plain tar; anything else is refused. Decided by magic bytes only."""
    with path.open("rb") as handle:
        head = handle.read(tarfile.BLOCKSIZE)
    if head.startswith(b"\x1f\x8b"):
        return True
    if len(head) == tarfile.BLOCKSIZE and head[257:262] == b"ustar":
        return False
    for magic, kind in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            raise InvalidImageArchive(
                f"the file is {kind}-compressed; only gzip-compressed or plain tar archives are accepted: "
                f"{HOW_TO}"
            )
    raise InvalidImageArchive(
        f"the file is not a gzip-compressed or plain tar archive; create it with: {HOW_TO}"
    )


# ------------------------------------------------------------------------------------- streaming input


class _Meter:
    """Counts bytes in and out of the decompressor and stops a decompression bomb early."""

    def __init__(self, limits: ImageArchiveLimits) -> None:
        self.limits = limits
        self.compressed = 0
        self.uncompressed = 0

    def add(self, *, compressed: int, uncompressed: int) -> None:
        self.compressed += compressed
        self.uncompressed += uncompressed
        limits = self.limits
        if self.uncompressed > limits.max_uncompressed_bytes:
            raise InvalidImageArchive(
                f"the archive unpacks to more than {_human(limits.max_uncompressed_bytes)} (a decompression "
                "bomb, or simply too big an image); make the image smaller and upload it again"
            )
        if self.uncompressed > _RATIO_GRACE_BYTES:
            ratio = self.uncompressed / max(self.compressed, 1)
            if ratio > limits.max_compression_ratio:
                raise InvalidImageArchive(
                    f"the archive looks like a decompression bomb: {_human(self.compressed)} expanded to "
                    f"{_human(self.uncompressed)} and was still going (ratio {ratio:.0f}, at most "
                    f"{limits.max_compression_ratio:g} is allowed); upload a real image made with: {HOW_TO}"
                )


class _PlainStream:
    """A plain tar file, read through the meter."""

    def __init__(self, raw: BinaryIO, meter: _Meter) -> None:
        self._raw = raw
        self._meter = meter

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size is not None and size >= 0 else _CHUNK)
        self._meter.add(compressed=len(data), uncompressed=len(data))
        return data


class _GzipStream:
    """Decompresses gzip (including concatenated gzip members) incrementally, never more than asked."""

    def __init__(self, raw: BinaryIO, meter: _Meter) -> None:
        self._raw = raw
        self._meter = meter
        self._decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = b""  # compressed input not yet given to the decompressor
        self._between_members = False  # a gzip member ended; another may follow

    def read(self, size: int = -1) -> bytes:
        size = size if size is not None and size > 0 else _CHUNK
        while True:
            if not self._pending:
                self._pending = self._raw.read(64 * KiB)
                self._meter.add(compressed=len(self._pending), uncompressed=0)
                if not self._pending:
                    if self._between_members:
                        return b""
                    raise InvalidImageArchive(_truncated_message())
            if self._between_members:
                self._decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self._between_members = False
            try:
                out = self._decompressor.decompress(self._pending, size)
            except zlib.error as exc:
                raise InvalidImageArchive(_corrupt_message(f"the gzip data is damaged ({exc})")) from exc
            self._pending = self._decompressor.unconsumed_tail
            if self._decompressor.eof:
                self._pending = self._decompressor.unused_data
                self._between_members = True
            if out:
                self._meter.add(compressed=0, uncompressed=len(out))
                return out


def _truncated_message() -> str:
    return f"the archive is truncated (the upload was cut off?); upload the complete output of: {HOW_TO}"


def _not_a_tar_message() -> str:
    return f"the file does not contain a tar archive; create it with: {HOW_TO}"


def _corrupt_message(detail: str) -> str:
    return f"the archive is corrupt: {detail}; create it again with: {HOW_TO}"


class _StrictTarInfo(tarfile.TarInfo):
    """TarInfo that refuses corrupt headers (tarfile treats them as the end of the archive) and huge
    extended headers (tarfile reads those into memory)."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tarfile_)
        except _END_OF_ARCHIVE_ERRORS:
            raise  # a zero block or the end of the data: the regular end of the archive
        except _TRUNCATED_HEADER_ERROR as exc:
            raise InvalidImageArchive(_truncated_message()) from exc
        except tarfile.HeaderError as exc:
            if tarfile_.offset == 0:
                raise InvalidImageArchive(_not_a_tar_message()) from exc
            raise InvalidImageArchive(_corrupt_message(f"a tar header is invalid ({exc})")) from exc

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_HEADER_TYPES and self.size > _MAX_EXTENDED_HEADER_BYTES:
            raise InvalidImageArchive(
                _corrupt_message(f"an extended tar header is {_human(self.size)} long, which no image needs")
            )
        # _proc_member is private to tarfile, so typeshed's TarInfo does not declare it.
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member


# --------------------------------------------------------------------------------------- the one pass


@dataclass(frozen=True)
class _Member:
    name: str  # normalised: no leading "./", no trailing "/"
    kind: str  # "file", "dir", "symlink" or "hardlink"
    size: int = 0
    linkname: str = ""  # symlink: as written; hardlink: normalised archive path


@dataclass
class _Archive:
    members: dict[str, _Member] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)  # small members that may be JSON
    kept_bytes: int = 0
    # "sha256:<hex>" of each regular file's bytes; None for a file that starts as compressed data (a layer stored
    # compressed: its diff_id is the digest of the decompressed tar, which this pass does not compute).
    digests: dict[str, str | None] = field(default_factory=dict)


def _scan(stream: _GzipStream | _PlainStream, limits: ImageArchiveLimits) -> _Archive:
    archive = _Archive()
    count = 0
    try:
        # In stream mode ("r|") tarfile only ever calls read(); typeshed's fileobj type asks for a whole file.
        with tarfile.open(fileobj=cast(BinaryIO, stream), mode="r|", tarinfo=_StrictTarInfo, bufsize=_CHUNK) as tar:
            for info in tar:
                count += 1
                if count > limits.max_members:
                    raise InvalidImageArchive(
                        f"the archive has more than {limits.max_members} members, which no image needs; "
                        f"upload a single image made with: {HOW_TO}"
                    )
                member = _classify(info, archive)
                if member is None:
                    continue
                _record(member, archive)
                if member.kind == "file":
                    _read_member_data(tar, info, member, archive)
        # Read what follows the end-of-archive marker too: it verifies the gzip checksum and trailer, and
        # nothing can hide behind the marker.
        while stream.read(_CHUNK):
            pass
    except InvalidImageArchive:
        raise
    except tarfile.ReadError as exc:
        raise InvalidImageArchive(_read_error_message(exc, archive)) from exc
    except (tarfile.TarError, EOFError, zlib.error, UnicodeError) as exc:
        raise InvalidImageArchive(_corrupt_message(str(exc) or type(exc).__name__)) from exc
    return archive


def _read_error_message(exc: tarfile.ReadError, archive: _Archive) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return _truncated_message()
    if not archive.members:
        return _not_a_tar_message()
    return _corrupt_message(text)


def _classify(info: tarfile.TarInfo, archive: _Archive) -> _Member | None:
    """Check one member's name and type; None for the archive root ("./")."""
    name = _normalise_name(info.name, info.name)
    if info.issparse():
        raise InvalidImageArchive(_bad_type_message(info.name, "a sparse file"))
    if info.isreg():
        return _Member(name, "file", size=info.size) if name else _refuse_root(info.name)
    if info.isdir():
        return _Member(name, "dir") if name else None
    if info.issym():
        if not info.linkname:
            raise InvalidImageArchive(_corrupt_message(f"the symbolic link '{info.name}' has no target"))
        return _Member(name, "symlink", linkname=info.linkname) if name else _refuse_root(info.name)
    if info.islnk():
        if not name:
            _refuse_root(info.name)
        return _Member(name, "hardlink", linkname=_hardlink_target(info, archive))
    if info.ischr() or info.isblk():
        raise InvalidImageArchive(_bad_type_message(info.name, "a device node"))
    if info.isfifo():
        raise InvalidImageArchive(_bad_type_message(info.name, "a FIFO (named pipe)"))
    raise InvalidImageArchive(_bad_type_message(info.name, f"of an unsupported tar type {info.type!r}"))


def _bad_type_message(name: str, what: str) -> str:
    return (
        f"the archive member '{name}' is {what}, which an image archive never contains; "
        f"upload the output of: {HOW_TO}"
    )


def _refuse_root(name: str) -> NoReturn:
    raise InvalidImageArchive(_corrupt_message(f"the member '{name}' has no file name"))


def _normalise_name(name: str, shown: str) -> str:
    """Refuse absolute paths and '..'; drop '.' and empty components. Returns "" for the root itself."""
    if "\x00" in name:
        raise InvalidImageArchive(_corrupt_message(f"the member name {shown!r} contains a NUL byte"))
    if name.startswith("/"):
        raise InvalidImageArchive(
            f"the archive member '{shown}' has an absolute path, which could overwrite files outside the "
            f"archive; upload the unmodified output of: {HOW_TO}"
        )
    parts = name.split("/")
    if ".." in parts:
        raise InvalidImageArchive(
            f"the archive member '{shown}' contains a '..' path component, which could write outside the "
            f"archive; upload the unmodified output of: {HOW_TO}"
        )
    return "/".join(part for part in parts if part not in ("", "."))


def _hardlink_target(info: tarfile.TarInfo, archive: _Archive) -> str:
    target = info.linkname
    escapes = target.startswith("/") or ".." in target.split("/")
    normalised = "" if escapes else _normalise_name(target, target)
    if escapes or not normalised:
        raise InvalidImageArchive(_escape_message(info.name, "a hard link", target))
    linked = archive.members.get(normalised)
    if linked is None or linked.kind not in ("file", "hardlink"):
        raise InvalidImageArchive(
            _corrupt_message(
                f"the hard link '{info.name}' points to '{target}', which is no file earlier in the archive"
            )
        )
    return linked.linkname if linked.kind == "hardlink" else normalised


def _escape_message(name: str, what: str, target: str) -> str:
    return (
        f"the archive member '{name}' is {what} to '{target}', which points outside the archive; "
        f"upload the unmodified output of: {HOW_TO}"
    )


def _record(member: _Member, archive: _Archive) -> None:
    previous = archive.members.get(member.name)
    if previous is not None and not (previous.kind == member.kind == "dir"):
        raise InvalidImageArchive(
            _corrupt_message(f"'{member.name}' appears more than once, so it is ambiguous which one counts")
        )
    archive.members[member.name] = member


def _may_be_json(member: _Member) -> bool:
    if member.size >= _KEEP_MAX_MEMBER_BYTES:
        return False
    return member.name.endswith(".json") or member.name.startswith("blobs/sha256/")


def _read_member_data(
    tar: tarfile.TarFile, info: tarfile.TarInfo, member: _Member, archive: _Archive
) -> None:
    """Read the member through (so truncation is noticed) and keep it if it is small and may be JSON."""
    handle = tar.extractfile(info)
    if handle is None:  # pragma: no cover - regular files always have data
        return
    keep = _may_be_json(member)
    chunks: list[bytes] = []
    first = True
    digest: Any = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        if first and member.name.startswith("blobs/") and chunk.lstrip()[:1] not in (b"{", b"["):
            keep = False  # a layer blob, not JSON
        if first and chunk.startswith(_COMPRESSED_LAYER_MAGIC):
            digest = None
        first = False
        if digest is not None:
            digest.update(chunk)
        if keep:
            chunks.append(chunk)
    archive.digests[member.name] = None if digest is None else f"sha256:{digest.hexdigest()}"
    if keep:
        data = b"".join(chunks)
        archive.kept_bytes += len(data)
        if archive.kept_bytes > _KEEP_MAX_TOTAL_BYTES:
            raise InvalidImageArchive(
                f"the archive holds more than {_human(_KEEP_MAX_TOTAL_BYTES)} of JSON metadata, which no "
                f"single image needs; upload one image made with: {HOW_TO}"
            )
        archive.kept[member.name] = data


# -------------------------------------------------------------------------------- after the pass: links


class _Escapes(Exception):
    pass


class _Loop(Exception):
    pass


def _resolve(path: str, members: dict[str, _Member]) -> str:
    """Resolve an archive-relative path through the archive's symlinks, like the kernel would once the
    archive were unpacked in an empty directory. Raises _Escapes if it leaves that directory."""
    done: list[str] = []
    todo = [part for part in reversed(path.split("/"))]
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                raise _Escapes(path)
            done.pop()
            continue
        candidate = "/".join([*done, part])
        member = members.get(candidate)
        if member is None or member.kind != "symlink":
            done.append(part)
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS:
            raise _Loop(path)
        if member.linkname.startswith("/"):
            raise _Escapes(path)
        todo.extend(reversed(member.linkname.split("/")))
    return "/".join(done)


def _check_symlinks(members: dict[str, _Member]) -> None:
    for member in members.values():
        if member.kind != "symlink":
            continue
        target = posixpath.join(posixpath.dirname(member.name), member.linkname)
        try:
            if member.linkname.startswith("/"):
                raise _Escapes(target)
            _resolve(target, members)
        except _Escapes as exc:
            message = _escape_message(member.name, "a symbolic link", member.linkname)
            raise InvalidImageArchive(message) from exc
        except _Loop as exc:
            raise InvalidImageArchive(
                _corrupt_message(f"the symbolic link '{member.name}' is part of a loop of links")
            ) from exc


def _find_file(reference: str, archive: _Archive) -> _Member | None:
    """The regular file a manifest reference names, following symlinks and hard links; None if absent."""
    if reference.startswith("/") or not reference:
        return None
    try:
        name = _resolve(reference, archive.members)
    except (_Escapes, _Loop):
        return None
    member = archive.members.get(name)
    if member is not None and member.kind == "hardlink":
        member = archive.members.get(member.linkname)
    return member if member is not None and member.kind == "file" else None


# ------------------------------------------------------------------- after the pass: manifest & config


def _inspect(archive: _Archive, *, uncompressed_bytes: int, compressed: bool) -> ImageArchiveInfo:
    _check_symlinks(archive.members)
    entry = _single_manifest_entry(archive)
    config_name = entry["Config"]
    layers: list[str] = entry["Layers"]
    config_bytes, config_member = _config_bytes(config_name, archive)
    layer_members: list[_Member] = []
    for layer in layers:
        found = _find_file(layer, archive)
        if found is None:
            raise InvalidImageArchive(
                f"manifest.json names the layer '{layer}', which is not in the archive; the archive is "
                f"incomplete: create it again with: {HOW_TO}"
            )
        layer_members.append(found)
    digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    _check_config_name(config_member.name, digest)
    config = _parse_config(config_bytes, config_name)
    _check_platform(config)
    _check_layer_count(config, len(layers))
    layers_verified = _check_layer_digests(config, layer_members, archive)
    runtime = config.get("config") or {}
    if not isinstance(runtime, dict):
        raise InvalidImageArchive(_corrupt_message("the image config's 'config' section is not an object"))
    return ImageArchiveInfo(
        repo_tags=list(entry["RepoTags"]),
        config_digest=digest,
        layer_count=len(layers),
        architecture=config["architecture"],
        os=config["os"],
        uncompressed_bytes=uncompressed_bytes,
        compressed=compressed,
        user=_user(runtime),
        entrypoint=_command(runtime, "Entrypoint"),
        cmd=_command(runtime, "Cmd"),
        layers_verified=layers_verified,
    )


def _check_layer_digests(config: dict[str, Any], layers: list[_Member], archive: _Archive) -> bool:
    """Each uncompressed layer's bytes must hash to the diff_id the config names for it (as `docker load` checks);
    True when every layer was checked, False when one is stored compressed (left to `docker load`)."""
    verified = True
    for number, (member, diff_id) in enumerate(zip(layers, config["rootfs"]["diff_ids"], strict=True), start=1):
        digest = archive.digests.get(member.name)
        if digest is None:
            verified = False
        elif digest != diff_id:
            raise InvalidImageArchive(
                f"layer {number} of {len(layers)} does not match the image config (its content hashes to "
                f"{digest[:19]}..., the config names {str(diff_id)[:19]}...); the archive is corrupt or was "
                f"altered: create it again with: {HOW_TO}"
            )
    return verified


def _single_manifest_entry(archive: _Archive) -> dict[str, Any]:
    member = _find_file("manifest.json", archive)
    if member is None:
        hint = " (it looks like an OCI archive from another tool)" if "index.json" in archive.members else ""
        raise InvalidImageArchive(
            f"the archive has no manifest.json{hint}, so it is not the output of docker save; "
            f"create it with: {HOW_TO}"
        )
    data = archive.kept.get(member.name)
    if data is None:
        raise InvalidImageArchive(_corrupt_message("manifest.json is far too big for a single image"))
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        raise InvalidImageArchive(_corrupt_message(f"manifest.json is not valid JSON ({exc})")) from exc
    if not isinstance(manifest, list):
        raise InvalidImageArchive(_corrupt_message("manifest.json is not a JSON list"))
    if len(manifest) != 1:
        images = "no image" if not manifest else f"{len(manifest)} images"
        raise InvalidImageArchive(
            f"the archive holds {images}; it must hold exactly one image: docker save IMAGE | gzip > "
            "algorithm.tar.gz (name one image only)"
        )
    return _checked_entry(manifest[0])


def _checked_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidImageArchive(_corrupt_message("the entry in manifest.json is not a JSON object"))
    config = entry.get("Config")
    layers = entry.get("Layers")
    tags = entry.get("RepoTags") or []
    if not isinstance(config, str) or not config:
        raise InvalidImageArchive(_corrupt_message("manifest.json does not name the image config"))
    if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
        raise InvalidImageArchive(_corrupt_message("manifest.json's 'Layers' is not a list of file names"))
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidImageArchive(_corrupt_message("manifest.json's 'RepoTags' is not a list of strings"))
    return {"Config": config, "Layers": layers, "RepoTags": tags}


def _config_bytes(config_name: str, archive: _Archive) -> tuple[bytes, _Member]:
    member = _find_file(config_name, archive)
    if member is None:
        raise InvalidImageArchive(
            f"manifest.json names the image config '{config_name}', which is not in the archive; the archive "
            f"is incomplete: create it again with: {HOW_TO}"
        )
    data = archive.kept.get(member.name)
    if data is None:
        message = f"the image config '{config_name}' is not a small JSON file"
        raise InvalidImageArchive(_corrupt_message(message))
    return data, member


def _check_config_name(name: str, digest: str) -> None:
    """Docker names the config after its digest; a mismatch means it was altered or damaged."""
    match = _SHA256_NAME.match(name)
    if match and f"sha256:{match.group(1)}" != digest:
        raise InvalidImageArchive(
            _corrupt_message(f"the image config '{name}' does not match its own digest (it was altered)")
        )


def _parse_config(data: bytes, name: str) -> dict[str, Any]:
    try:
        config = json.loads(data)
    except (ValueError, UnicodeError) as exc:
        message = _corrupt_message(f"the image config '{name}' is not valid JSON ({exc})")
        raise InvalidImageArchive(message) from exc
    if not isinstance(config, dict):
        raise InvalidImageArchive(_corrupt_message(f"the image config '{name}' is not a JSON object"))
    return config


def _check_platform(config: dict[str, Any]) -> None:
    found_os, arch = config.get("os"), config.get("architecture")
    if found_os == REQUIRED_OS and arch == REQUIRED_ARCHITECTURE:
        return
    variant = config.get("variant")
    found = f"{found_os or '(no os)'}/{arch or '(no architecture)'}" + (f"/{variant}" if variant else "")
    raise InvalidImageArchive(
        f"the image is built for {found}, but only {REQUIRED_OS}/{REQUIRED_ARCHITECTURE} can run here; "
        f"rebuild it with: docker build --platform {REQUIRED_OS}/{REQUIRED_ARCHITECTURE} ..., then {HOW_TO}"
    )


def _check_layer_count(config: dict[str, Any], layer_count: int) -> None:
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise InvalidImageArchive(_corrupt_message("the image config has no rootfs.diff_ids list"))
    if len(diff_ids) != layer_count:
        raise InvalidImageArchive(
            _corrupt_message(
                f"the image config lists {len(diff_ids)} layers but manifest.json names {layer_count}"
            )
        )


def _user(runtime: dict[str, Any]) -> str:
    user = runtime.get("User") or ""
    if not isinstance(user, str):
        raise InvalidImageArchive(_corrupt_message("the image config's User is not a string"))
    return user


def _command(runtime: dict[str, Any], key: str) -> list[str] | None:
    value = runtime.get(key)
    if value is None:
        return None
    if isinstance(value, str):  # Docker accepts a plain string here too
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidImageArchive(_corrupt_message(f"the image config's {key} is not a list of strings"))


def _human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"
