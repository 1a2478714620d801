"""Malicious upload archives, made by editing a real `docker save` archive (legacy layout, Docker 20.10)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SavedImage:
    """The members of a `docker save` archive, in order, with their data; edit and write back out."""

    members: list[tuple[tarfile.TarInfo, bytes]] = field(default_factory=list)

    @classmethod
    def read(cls, archive: Path) -> SavedImage:
        image = cls()
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                handle = tar.extractfile(info) if info.isreg() else None
                image.members.append((info, handle.read() if handle else b""))
        return image

    def copy(self) -> SavedImage:
        return SavedImage([(_clone(info), data) for info, data in self.members])

    # ---- reading and replacing members ------------------------------------------------------------

    def data(self, name: str) -> bytes:
        return next(data for info, data in self.members if info.name == name)

    def put(self, name: str, data: bytes) -> None:
        """Replace the member's data, or add a regular file at the end."""
        for index, (info, _) in enumerate(self.members):
            if info.name == name:
                info.size = len(data)
                self.members[index] = (info, data)
                return
        self.add(_file(name, len(data)), data)

    def rename(self, old: str, new: str) -> None:
        for info, _ in self.members:
            if info.name == old:
                info.name = new

    def add(self, info: tarfile.TarInfo, data: bytes = b"") -> None:
        self.members.append((info, data))

    @property
    def manifest(self) -> list[dict]:
        return json.loads(self.data("manifest.json"))

    def set_manifest(self, manifest: list[dict]) -> None:
        self.put("manifest.json", json.dumps(manifest).encode())

    def edit_config(self, change: Callable[[dict], None]) -> str:
        """Edit the image config; renames it after its new digest (as Docker names it). Returns the digest."""
        manifest = self.manifest
        old = manifest[0]["Config"]
        config = json.loads(self.data(old))
        change(config)
        data = json.dumps(config).encode()
        digest = hashlib.sha256(data).hexdigest()
        self.put(old, data)
        self.rename(old, f"{digest}.json")
        manifest[0]["Config"] = f"{digest}.json"
        self.set_manifest(manifest)
        return digest

    def add_layer(self, layer: bytes) -> str:
        """Put another layer (a tar) on top, as `docker save` would list it. Returns the new image id."""
        digest = hashlib.sha256(layer).hexdigest()
        name = f"{digest}/layer.tar"
        self.put(name, layer)
        manifest = self.manifest
        manifest[0]["Layers"].append(name)
        self.set_manifest(manifest)

        def change(config: dict) -> None:
            config["rootfs"]["diff_ids"].append(f"sha256:{digest}")
            config.setdefault("history", []).append({"created_by": "a hand-made layer"})
        return "sha256:" + self.edit_config(change)

    def untagged(self) -> SavedImage:
        """Without repository tags, so that loading it claims no tag on the engine."""
        manifest = self.manifest
        manifest[0]["RepoTags"] = None
        self.set_manifest(manifest)
        return self

    # ---- writing ----------------------------------------------------------------------------------

    def write(self, path: Path, *, compress: bool = True) -> Path:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for info, data in self.members:
                tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1) if compress else buffer.getvalue())
        return path


def _clone(info: tarfile.TarInfo) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(info.name)
    for attribute in ("size", "mode", "uid", "gid", "mtime", "type", "linkname", "uname", "gname", "devmajor",
                      "devminor"):
        setattr(copy, attribute, getattr(info, attribute))
    return copy


def _file(name: str, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 1  # /dev/mem
    return info


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A layer: a plain tar of the given names (which may well be hostile)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            tar.addfile(_file(name, len(data)), io.BytesIO(data))
    return buffer.getvalue()


def gzip_bomb(path: Path, expanded_mib: int = 512) -> Path:
    """A tar header claiming a huge member, then zeros: gzip members of 16 MiB of zeros, concatenated."""
    header = _file("blobs/sha256/" + "0" * 64, expanded_mib * 1024 * 1024).tobuf(format=tarfile.GNU_FORMAT)
    zeros = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9)
    with path.open("wb") as out:
        out.write(gzip.compress(header))
        for _ in range(expanded_mib // 16):
            out.write(zeros)
    return path


def member_bomb(path: Path, members: int = 100_001) -> Path:
    """Far more (empty) members than any image has."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for index in range(members):
            tar.addfile(_file(f"m/{index}"))
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1))
    return path
