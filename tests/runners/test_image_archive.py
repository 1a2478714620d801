"""Tests for runners.image_archive: real `docker save` output is accepted, crafted bad archives are not.

A tiny image (FROM scratch + Debian's static busybox) is built on the local engine without a registry and
saved once; every bad archive is written by hand with tarfile, mostly from that real archive's parts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runners.image_archive import (
    ImageArchiveInfo,
    ImageArchiveLimits,
    InvalidImageArchive,
    sha256_file,
    validate_image_archive,
)

MiB = 1024 * 1024
DOCKERFILE = 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox","true"]\n'


# ------------------------------------------------------------------------------------------ fixtures


def _docker(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def _static_busybox() -> Path:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "busybox-static"], check=True, env=env)
    return busybox


@pytest.fixture(scope="module")
def image_tag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tiny image built locally (no registry, no network); removed at the end of the module."""
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.skip("no Docker engine (run scripts/ensure-docker.sh)")
    context = tmp_path_factory.mktemp("image-context")
    shutil.copy(_static_busybox(), context / "busybox")
    (context / "Dockerfile").write_text(DOCKERFILE)
    tag = f"podium-test/image-archive-{uuid.uuid4().hex[:12]}:v1"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    _docker("build", "--network", "none", "--rm", "--force-rm", "-t", tag, str(context), env=env)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.fixture(scope="module")
def saved_tar(image_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`docker save TAG` (a plain tar)."""
    path = tmp_path_factory.mktemp("saved") / "algorithm.tar"
    _docker("save", "-o", str(path), image_tag)
    return path


@pytest.fixture(scope="module")
def saved_gz(image_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`docker save TAG | gzip`."""
    path = tmp_path_factory.mktemp("saved") / "algorithm.tar.gz"
    with path.open("wb") as out:
        save = subprocess.Popen(["docker", "save", image_tag], stdout=subprocess.PIPE)
        assert save.stdout is not None
        subprocess.run(["gzip", "-c"], stdin=save.stdout, stdout=out, check=True)
        save.stdout.close()
        assert save.wait() == 0
    return path


# ------------------------------------------------------------------------------- archive surgery


@dataclass
class Entry:
    info: tarfile.TarInfo
    data: bytes | None = None


def read_entries(path: Path) -> list[Entry]:
    with tarfile.open(path, "r:*") as tar:
        return [Entry(info, tar.extractfile(info).read() if info.isreg() else None) for info in tar]  # type: ignore[union-attr]


def write_archive(path: Path, entries: list[Entry], *, compress: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if compress else "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            tar.addfile(entry.info, io.BytesIO(entry.data) if entry.data is not None else None)
    return path


def file_entry(name: str, data: bytes) -> Entry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return Entry(info, data)


def json_entry(name: str, value: object) -> Entry:
    return file_entry(name, json.dumps(value).encode())


def link_entry(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return Entry(info)


def dir_entry(name: str) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return Entry(info)


def special_entry(name: str, kind: bytes) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return Entry(info)


def replace(entries: list[Entry], *new: Entry) -> list[Entry]:
    """The entries with members of the same names replaced (in place) and the other new ones appended."""
    by_name = {entry.info.name: entry for entry in new}
    result = [by_name.pop(entry.info.name, entry) for entry in entries]
    return result + list(by_name.values())


def without(entries: list[Entry], name: str) -> list[Entry]:
    assert any(entry.info.name == name for entry in entries)
    return [entry for entry in entries if entry.info.name != name]


def member(entries: list[Entry], name: str) -> bytes:
    data = next(entry.data for entry in entries if entry.info.name == name)
    assert data is not None
    return data


def manifest_entry(entries: list[Entry]) -> dict:
    manifest = json.loads(member(entries, "manifest.json"))
    assert len(manifest) == 1
    return manifest[0]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def parts(saved_tar: Path) -> list[Entry]:
    """The members of the real `docker save` archive, fresh for each test."""
    return read_entries(saved_tar)


# -------------------------------------------------------------------------------------- real archives


def _assert_describes_image(info: ImageArchiveInfo, tag: str) -> None:
    image_id = _docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip()
    assert tag in info.repo_tags
    assert info.config_digest == image_id
    assert (info.os, info.architecture) == ("linux", "amd64")
    assert info.layer_count >= 1
    assert info.cmd == ["/bin/busybox", "true"]
    assert info.entrypoint is None
    assert info.user == ""
    assert info.uncompressed_bytes > Path("/bin/busybox").stat().st_size
    assert info.layers_verified is True  # every layer hashed to the diff_id its config names


def test_docker_save_gzip_is_valid(saved_gz: Path, image_tag: str) -> None:
    info = validate_image_archive(saved_gz)
    assert info.compressed is True
    _assert_describes_image(info, image_tag)


def test_plain_docker_save_is_valid(saved_tar: Path, image_tag: str) -> None:
    info = validate_image_archive(saved_tar)
    assert info.compressed is False
    assert info.uncompressed_bytes == saved_tar.stat().st_size
    _assert_describes_image(info, image_tag)


def test_format_is_detected_by_magic_bytes_not_by_name(saved_gz: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "algorithm.tar"
    shutil.copy(saved_gz, misnamed)
    assert validate_image_archive(misnamed).compressed is True


def test_sha256_file(saved_tar: Path) -> None:
    assert sha256_file(saved_tar) == "sha256:" + sha256_hex(saved_tar.read_bytes())


def _oci_layout(parts: list[Entry], tag: str, *, legacy_symlinks: bool) -> list[Entry]:
    """What Docker 25+ writes: blobs/sha256/<hex>, index.json, oci-layout and a manifest.json naming
    blobs (or, with legacy_symlinks, legacy names that are symlinks into blobs/)."""
    legacy = manifest_entry(parts)
    config = member(parts, legacy["Config"])
    layers = [member(parts, name) for name in legacy["Layers"]]
    config_hex, layer_hexes = sha256_hex(config), [sha256_hex(layer) for layer in layers]
    oci_manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_hex}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{hex_}",
                    "size": len(data),
                }
                for hex_, data in zip(layer_hexes, layers, strict=True)
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{sha256_hex(oci_manifest)}",
                "size": len(oci_manifest),
                "annotations": {"io.containerd.image.name": tag, "org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    blobs = [file_entry(f"blobs/sha256/{sha256_hex(data)}", data) for data in (config, *layers, oci_manifest)]
    entries = [dir_entry("blobs"), dir_entry("blobs/sha256"), *blobs]
    entries += [json_entry("index.json", index), json_entry("oci-layout", {"imageLayoutVersion": "1.0.0"})]
    config_name, layer_names = f"blobs/sha256/{config_hex}", [f"blobs/sha256/{hex_}" for hex_ in layer_hexes]
    if legacy_symlinks:
        config_name, layer_names = f"{config_hex}.json", legacy["Layers"]
        entries.append(link_entry(config_name, f"blobs/sha256/{config_hex}"))
        for name, hex_ in zip(layer_names, layer_hexes, strict=True):
            entries += [dir_entry(name.rsplit("/", 1)[0]), link_entry(name, f"../blobs/sha256/{hex_}")]
    entries.append(
        json_entry("manifest.json", [{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}])
    )
    return entries


@pytest.mark.parametrize("legacy_symlinks", [False, True], ids=["blob-names", "legacy-names-as-symlinks"])
def test_oci_layout_is_valid(
    parts: list[Entry], tmp_path: Path, image_tag: str, legacy_symlinks: bool
) -> None:
    path = write_archive(
        tmp_path / "oci.tar.gz", _oci_layout(parts, image_tag, legacy_symlinks=legacy_symlinks)
    )
    info = validate_image_archive(path)
    assert info.repo_tags == [image_tag]
    assert info.config_digest == "sha256:" + sha256_hex(member(parts, manifest_entry(parts)["Config"]))
    assert (info.os, info.architecture, info.layer_count) == ("linux", "amd64", 1)
    assert info.cmd == ["/bin/busybox", "true"]


# ---------------------------------------------------------------------------- not an archive at all


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "algorithm.tar.gz"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(InvalidImageArchive, match=r"not a gzip-compressed or plain tar archive"):
        validate_image_archive(path)


def test_gzip_without_a_tar_inside_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "algorithm.tar.gz"
    path.write_bytes(gzip.compress(os.urandom(4096)))
    with pytest.raises(InvalidImageArchive, match=r"does not contain a tar archive"):
        validate_image_archive(path)


def test_truncated_gzip_is_refused(saved_gz: Path, tmp_path: Path) -> None:
    data = saved_gz.read_bytes()
    path = tmp_path / "algorithm.tar.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageArchive, match=r"archive is truncated"):
        validate_image_archive(path)


def test_truncated_plain_tar_is_refused(saved_tar: Path, tmp_path: Path) -> None:
    data = saved_tar.read_bytes()
    path = tmp_path / "algorithm.tar"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageArchive, match=r"archive is truncated"):
        validate_image_archive(path)


# ------------------------------------------------------------------------ dangerous members


@pytest.mark.parametrize(
    ("evil", "message"),
    [
        (file_entry("../evil", b"x"), r"member '\.\./evil' contains a '\.\.' path component"),
        (file_entry("layers/../../evil", b"x"), r"contains a '\.\.' path component"),
        (file_entry("/etc/passwd", b"root::0:0::/:/bin/sh\n"), r"member '/etc/passwd' has an absolute path"),
        (
            link_entry("shadow", "/etc/shadow"),
            r"'shadow' is a symbolic link to '/etc/shadow', which points outside",
        ),
        (
            link_entry("innocent", "a/../../x"),
            r"'innocent' is a symbolic link to 'a/\.\./\.\./x', which points outside",
        ),
        (
            link_entry("hl", "../../etc/passwd", tarfile.LNKTYPE),
            r"'hl' is a hard link to '\.\./\.\./etc/passwd', which",
        ),
        (
            link_entry("hl", "/etc/passwd", tarfile.LNKTYPE),
            r"'hl' is a hard link to '/etc/passwd', which points outside",
        ),
        (special_entry("null", tarfile.CHRTYPE), r"member 'null' is a device node"),
        (special_entry("sda", tarfile.BLKTYPE), r"member 'sda' is a device node"),
        (special_entry("pipe", tarfile.FIFOTYPE), r"member 'pipe' is a FIFO"),
    ],
    ids=[
        "dotdot",
        "dotdot-inside",
        "absolute",
        "symlink-absolute",
        "symlink-dotdot",
        "hardlink-dotdot",
        "hardlink-absolute",
        "char-device",
        "block-device",
        "fifo",
    ],
)
def test_dangerous_member_is_refused(parts: list[Entry], tmp_path: Path, evil: Entry, message: str) -> None:
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, evil])
    with pytest.raises(InvalidImageArchive, match=message):
        validate_image_archive(path)


def test_symlink_escaping_through_another_symlink_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    # "here" -> "." is harmless, and "sneaky" -> "here/../etc" looks like "etc", but the kernel resolves
    # here/.. as the parent of the unpack directory.
    evil = [link_entry("here", "."), link_entry("sneaky", "here/../etc")]
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, *evil])
    with pytest.raises(
        InvalidImageArchive, match=r"'sneaky' is a symbolic link to 'here/\.\./etc', which points"
    ):
        validate_image_archive(path)


def test_symlink_inside_the_archive_is_accepted(parts: list[Entry], tmp_path: Path) -> None:
    extra = [dir_entry("docs"), link_entry("docs/manifest-copy", "../manifest.json")]
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, *extra])
    assert validate_image_archive(path).layer_count == 1


def test_duplicate_member_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, json_entry("manifest.json", [])])
    with pytest.raises(InvalidImageArchive, match=r"'manifest\.json' appears more than once"):
        validate_image_archive(path)


# --------------------------------------------------------------------------- manifest and config


def test_missing_manifest_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    path = write_archive(tmp_path / "algorithm.tar.gz", without(parts, "manifest.json"))
    with pytest.raises(InvalidImageArchive, match=r"has no manifest\.json"):
        validate_image_archive(path)


def test_manifest_that_is_not_a_list_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    entries = replace(parts, json_entry("manifest.json", manifest_entry(parts)))
    path = write_archive(tmp_path / "algorithm.tar.gz", entries)
    with pytest.raises(InvalidImageArchive, match=r"manifest\.json is not a JSON list"):
        validate_image_archive(path)


def test_manifest_with_two_images_is_refused(parts: list[Entry], tmp_path: Path, image_tag: str) -> None:
    first = manifest_entry(parts)
    second = {**first, "RepoTags": [image_tag.replace(":v1", ":v2")]}
    path = write_archive(
        tmp_path / "algorithm.tar.gz", replace(parts, json_entry("manifest.json", [first, second]))
    )
    written = json.loads(member(read_entries(path), "manifest.json"))
    assert len(written) == 2 and written[0]["RepoTags"] != written[1]["RepoTags"]
    with pytest.raises(InvalidImageArchive, match=r"holds 2 images; it must hold exactly one image"):
        validate_image_archive(path)


def test_manifest_with_no_image_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    path = write_archive(tmp_path / "algorithm.tar.gz", replace(parts, json_entry("manifest.json", [])))
    with pytest.raises(InvalidImageArchive, match=r"holds no image; it must hold exactly one image"):
        validate_image_archive(path)


def test_missing_layer_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    layer = manifest_entry(parts)["Layers"][0]
    path = write_archive(tmp_path / "algorithm.tar.gz", without(parts, layer))
    with pytest.raises(InvalidImageArchive, match=rf"names the layer '{layer}', which is not in the archive"):
        validate_image_archive(path)


def test_missing_config_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    config = manifest_entry(parts)["Config"]
    path = write_archive(tmp_path / "algorithm.tar.gz", without(parts, config))
    with pytest.raises(
        InvalidImageArchive, match=r"names the image config '[0-9a-f]{64}\.json', which is not in"
    ):
        validate_image_archive(path)


def _with_config(parts: list[Entry], config: bytes) -> list[Entry]:
    """The archive with its config replaced, renamed after its new digest, and manifest.json updated."""
    entry = manifest_entry(parts)
    new_name = f"{sha256_hex(config)}.json"
    entries = without(parts, entry["Config"]) + [file_entry(new_name, config)]
    return replace(entries, json_entry("manifest.json", [{**entry, "Config": new_name}]))


def test_arm64_image_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    config = json.loads(member(parts, manifest_entry(parts)["Config"]))
    assert config["architecture"] == "amd64"
    config.update(architecture="arm64", variant="v8")
    path = write_archive(tmp_path / "algorithm.tar.gz", _with_config(parts, json.dumps(config).encode()))
    with pytest.raises(
        InvalidImageArchive, match=r"built for linux/arm64/v8, but only linux/amd64 can run here"
    ):
        validate_image_archive(path)


def test_config_that_is_not_json_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    path = write_archive(tmp_path / "algorithm.tar.gz", _with_config(parts, b"{not json"))
    with pytest.raises(InvalidImageArchive, match=r"image config '[0-9a-f]{64}\.json' is not valid JSON"):
        validate_image_archive(path)


def test_config_altered_behind_its_digest_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    name = manifest_entry(parts)["Config"]
    config = json.loads(member(parts, name))
    config["config"]["User"] = "root"
    path = write_archive(tmp_path / "algorithm.tar.gz", replace(parts, json_entry(name, config)))
    with pytest.raises(InvalidImageArchive, match=r"does not match its own digest"):
        validate_image_archive(path)


# ---------------------------------------------------------------------------------------- limits


def test_archive_bigger_than_the_limit_is_refused(saved_gz: Path) -> None:
    limits = ImageArchiveLimits(max_archive_bytes=100_000)
    with pytest.raises(
        InvalidImageArchive, match=r"the archive is [0-9.]+ [KM]iB, bigger than the 97\.7 KiB allowed"
    ):
        validate_image_archive(saved_gz, limits)


def test_archive_unpacking_beyond_the_limit_is_refused(saved_gz: Path) -> None:
    limits = ImageArchiveLimits(max_uncompressed_bytes=1 * MiB)
    with pytest.raises(InvalidImageArchive, match=r"unpacks to more than 1 MiB"):
        validate_image_archive(saved_gz, limits)


def test_too_many_members_are_refused(parts: list[Entry], tmp_path: Path) -> None:
    filler = [file_entry(f"filler/{index}", b"") for index in range(50)]
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, *filler])
    with pytest.raises(InvalidImageArchive, match=r"has more than 20 members"):
        validate_image_archive(path, ImageArchiveLimits(max_members=20))


class _Zeros(io.RawIOBase):
    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def test_gzip_bomb_is_stopped_early(parts: list[Entry], tmp_path: Path) -> None:
    bomb = tarfile.TarInfo("zeros")
    bomb.size = 200 * MiB
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(bomb, _Zeros())
        # Reading past the bomb would reach this device node and report it instead of the bomb.
        tar.addfile(special_entry("tripwire", tarfile.CHRTYPE).info)
        for entry in parts:
            tar.addfile(entry.info, io.BytesIO(entry.data) if entry.data is not None else None)
    assert path.stat().st_size < 2 * MiB
    # Control: with no ratio limit the whole bomb is read and the tripwire is what gets reported.
    with pytest.raises(InvalidImageArchive, match=r"member 'tripwire' is a device node"):
        validate_image_archive(path, ImageArchiveLimits(max_compression_ratio=1e9))

    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(
            InvalidImageArchive, match=r"decompression bomb.*ratio [0-9]+, at most 50 is allowed"
        ):
            validate_image_archive(path, ImageArchiveLimits(max_compression_ratio=50))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB
    assert time.monotonic() - started < 10


def test_ordinary_compression_ratio_is_accepted(parts: list[Entry], tmp_path: Path) -> None:
    # Small archives never trip the ratio check, however well they compress.
    padding = file_entry("padding", bytes(2 * MiB))
    path = write_archive(tmp_path / "algorithm.tar.gz", [*parts, padding])
    assert validate_image_archive(path, ImageArchiveLimits(max_compression_ratio=2)).layer_count == 1


# ------------------------------------------------------------------------------- layers against the config


def _layer_names(entries: list[Entry]) -> list[str]:
    return list(manifest_entry(entries)["Layers"])


def _real_layer(entries: list[Entry], name: str) -> Entry:
    """The regular file a manifest's layer name refers to (docker save may name it through a symbolic link)."""
    by_name = {entry.info.name: entry for entry in entries}
    entry = by_name[name]
    while entry.info.issym():
        entry = by_name[os.path.normpath(os.path.join(os.path.dirname(entry.info.name), entry.info.linkname))]
    return entry


def test_a_layer_that_does_not_match_its_config_is_refused(parts: list[Entry], tmp_path: Path) -> None:
    """The config's digest stands for the whole image (a worker whose engine holds an image with that id runs it
    without loading the archive), so an archive that pairs a real config with other layers must never pass."""
    layer = _real_layer(parts, _layer_names(parts)[0])
    altered = tarfile.TarInfo(layer.info.name)
    data = bytearray(layer.data or b"")
    data[-1] ^= 0xFF  # one byte of the end-of-archive padding: still a valid tar, another digest
    altered.size = len(data)
    with pytest.raises(InvalidImageArchive, match=r"layer 1 of \d+ does not match the image config"):
        validate_image_archive(write_archive(tmp_path / "altered.tar.gz", replace(parts, Entry(altered, bytes(data)))))


def test_a_layer_stored_compressed_is_left_to_docker_load(parts: list[Entry], tmp_path: Path) -> None:
    layer = _real_layer(parts, _layer_names(parts)[0])
    packed = gzip.compress(layer.data or b"", mtime=0)
    info = tarfile.TarInfo(layer.info.name)
    info.size = len(packed)
    described = validate_image_archive(write_archive(tmp_path / "packed.tar.gz", replace(parts, Entry(info, packed))))
    assert described.layers_verified is False
