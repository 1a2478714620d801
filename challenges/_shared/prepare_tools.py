"""What the example challenges' prepare.py scripts write with: files replaced whole and only when their bytes
change, JSON and CSV in one fixed form, zlib-compressed MetaImage (.mha) with numpy alone, a small Gaussian blur.

Each prepare.py runs as a script from its own challenge folder (`python prepare.py data`, as `podium challenge
apply` runs it) and imports this module from `challenges/_shared/`, the folder beside it; a challenge folder copied
elsewhere with its prepare.py needs this folder beside it too. A challenge bundle never carries prepare.py (import
refuses a `prepare:` step; export writes the prepared files).

Files are replaced, not rewritten, because other test runs may be applying a challenge (reading or copying these
files) while its prepare step runs again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np


@contextlib.contextmanager
def replacing_bytes(path: Path) -> Iterator[BinaryIO]:
    """Write `path` whole or not at all, and not at all when it already holds the same bytes. The bytes are gathered
    in memory, then written to a temporary file beside `path` and renamed over it."""
    buffer = io.BytesIO()
    yield buffer
    data = buffer.getvalue()
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with open(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # as a file written directly would be (mkstemp makes it private)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def replacing_text(path: Path) -> Iterator[TextIO]:
    """replacing_bytes for text: UTF-8, line endings as written (csv writes \\r\\n)."""
    buffer = io.StringIO(newline="")
    yield buffer
    with replacing_bytes(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))


def write_json(path: Path, value: object) -> None:
    with replacing_text(path) as handle:
        handle.write(json.dumps(value, sort_keys=True) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with replacing_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def site_cases(rng: np.random.Generator, counts: Mapping[str, int], prefix: str) -> list[tuple[str, str]]:
    """One part's cases as (case id, site): `counts[site]` cases of each site in a random order, numbered from 1."""
    sites = [site for site, n in counts.items() for _ in range(n)]
    return [(f"{prefix}-{rank:04d}", str(site)) for rank, site in enumerate(rng.permutation(sites), start=1)]


def write_cases_csv(path: Path, cases: Iterable[tuple[str, str]], scanners: Mapping[str, str]) -> None:
    """cases.csv of a multi-site test set: case_id, site, scanner (`scanners[site]`), by case id."""
    write_csv(path, ["case_id", "site", "scanner"], sorted([case, site, scanners[site]] for case, site in cases))


ELEMENT_TYPES = {np.dtype("int16"): "MET_SHORT", np.dtype("uint8"): "MET_UCHAR", np.dtype("float32"): "MET_FLOAT"}


def write_mha(path: Path, voxels: np.ndarray, spacing: tuple[float, ...], origin: tuple[float, ...]) -> None:
    """A zlib-compressed MetaImage; `voxels` and `spacing` in numpy order (z, y, x), `origin` in x, y, z."""
    body = zlib.compress(np.ascontiguousarray(voxels, dtype=voxels.dtype.newbyteorder("<")).tobytes(), 6)
    header = {
        "ObjectType": "Image", "NDims": "3", "BinaryData": "True", "BinaryDataByteOrderMSB": "False",
        "CompressedData": "True", "CompressedDataSize": str(len(body)), "TransformMatrix": "1 0 0 0 1 0 0 0 1",
        "Offset": " ".join(f"{v:g}" for v in origin), "CenterOfRotation": "0 0 0", "AnatomicalOrientation": "RAI",
        "ElementSpacing": " ".join(f"{v:g}" for v in reversed(spacing)),
        "DimSize": " ".join(str(n) for n in reversed(voxels.shape)), "ElementType": ELEMENT_TYPES[voxels.dtype],
        "ElementDataFile": "LOCAL",
    }
    with replacing_bytes(path) as handle:
        handle.write("".join(f"{key} = {value}\n" for key, value in header.items()).encode("ascii") + body)


def gaussian_along(values: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """A 5-tap Gaussian blur along one axis, edges repeated (a scanner's partial volume)."""
    offsets = np.arange(-2, 3)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(2, 2) if a == axis else (0, 0) for a in range(values.ndim)], mode="edge")
    length = values.shape[axis]
    return sum(weight * np.take(padded, np.arange(i, i + length), axis=axis) for i, weight in enumerate(kernel))
