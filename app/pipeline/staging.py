"""Worker-local copies of a test set, cached by content hash.

Inputs are staged into the folder that is mounted read-only at /input (with cases.json). Ground truth
goes to a separate folder that is never mounted into a participant container.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from app.challenge_yaml import Interface
from app.image_files import stored_image_name
from app.pipeline import stage_cache
from app.pipeline.per_case_inputs import case_input_layout, layout_digest
from app.storage import ArtifactStore, keys

COMPLETE_MARKER = stage_cache.COMPLETE_MARKER


def stage_inputs(store: ArtifactStore, *, storage_prefix: str, content_hash: str,
                 cases: list[tuple[str, dict[str, Any]]], input_paths: list[str], cache_root: Path,
                 max_bytes: int | None = None) -> Path:
    """The /input folder for a test set: cases.json plus <case_id>/<relative_path> for each input (an image input:
    the one file inside that folder, <case_id>/<relative_path>/<case_id>.mha, as the case's inputs name it)."""
    def fill(folder: Path) -> None:
        entries = [{"case_id": case_id, "inputs": inputs} for case_id, inputs in cases]
        (folder / "cases.json").write_text(json.dumps(entries))
        for case_id, inputs in cases:
            for relative in case_input_files(case_id, inputs, input_paths):
                store.download_to(keys.case_input(storage_prefix, case_id, relative), folder / case_id / relative)
    return _cached(cache_root / "inputs" / content_hash, fill, world_readable=True, max_bytes=max_bytes)


def case_input_files(case_id: str, inputs: dict[str, Any], input_paths: list[str]) -> list[str]:
    """The files of a case's inputs, relative to its folder: each input's relative_path, except an image input's
    folder, whose one file the case's inputs name as "<case_id>/<relative_path>/<file name>"."""
    prefix = f"{case_id}/"
    named = [value[len(prefix):] for value in inputs.values() if isinstance(value, str) and value.startswith(prefix)]
    files: list[str] = []
    for relative in input_paths:
        inside = [name for name in named if name.startswith(relative + "/") and "/" not in name[len(relative) + 1:]]
        files += inside[:1] or [relative]
    return files


def staged_input_images(input_dir: Path, case_ids: list[str], inputs: list[Interface]) -> dict[str, dict[str, Path]]:
    """case id -> image input slug -> its staged file (scoring checks an output's image.same_grid_as against it).
    Batch and per-case staging both put a case's image input as the one file of <input_dir>/<case id>/<path>/."""
    images: dict[str, dict[str, Path]] = {}
    for case_id in case_ids:
        for interface in inputs:
            folder = input_dir / case_id / interface.relative_path
            if interface.kind == "image" and folder.is_dir():
                found = sorted(p for p in folder.iterdir() if p.is_file())
                if found:
                    images.setdefault(case_id, {})[interface.slug] = found[0]
    return images


def stage_case_inputs(store: ArtifactStore, *, storage_prefix: str, content_hash: str,
                      cases: list[tuple[str, dict[str, Any]]], interfaces: list[Interface], cache_root: Path,
                      max_bytes: int | None = None) -> Path:
    """Per-case mode: a folder per case (<root>/<case_id>), each one case's /input as grand-challenge.org lays it
    out (app/pipeline/per_case_inputs.py), cached by the test set's content and the inputs' declarations."""
    def fill(folder: Path) -> None:
        for case_id, inputs in cases:
            case_dir = folder / case_id
            case_dir.mkdir()
            for item in case_input_layout(content_hash, case_id, inputs, interfaces):
                target = case_dir / item.target
                target.parent.mkdir(parents=True, exist_ok=True)
                if item.stored is None:
                    target.write_bytes(item.content or b"")
                else:
                    store.download_to(keys.case_input(storage_prefix, case_id, item.stored), target)
    return _cached(cache_root / "per-case-inputs" / f"{content_hash}-{layout_digest(interfaces)}", fill,
                   world_readable=True, max_bytes=max_bytes)


def stage_ground_truth(store: ArtifactStore, *, storage_prefix: str, content_hash: str, case_ids: list[str],
                       truth_paths: list[str], cache_root: Path, image_folders: Collection[str] = (),
                       max_bytes: int | None = None) -> Path:
    """The hidden reference, readable only by the worker's user; never mounted into a participant run.

    image_folders: those of truth_paths that are image interfaces' folders: each holds <case_id>.mha
    (app.image_files.ground_truth_image)."""
    def fill(folder: Path) -> None:
        for case_id in case_ids:
            for relative in truth_paths:
                if relative in image_folders:
                    relative = f"{relative}/{stored_image_name(case_id, '.mha', ground_truth=True)}"
                store.download_to(keys.case_ground_truth(storage_prefix, case_id, relative),
                                  folder / case_id / relative)
    return _cached(cache_root / "ground-truth" / content_hash, fill, world_readable=False, max_bytes=max_bytes)


def _cached(final: Path, fill: Callable[[Path], None], *, world_readable: bool, max_bytes: int | None) -> Path:
    """The complete folder `final`, staged by `fill` unless it is there; held for the rest of the attempt
    (app/pipeline/stage_cache.py). After staging a new one, the others are trimmed to max_bytes (None: no cap)."""
    stage_cache.hold(final)
    if (final / COMPLETE_MARKER).exists():
        stage_cache.used(final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(final.parent, 0o755 if world_readable else 0o700)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
    try:
        fill(staging)
        _set_modes(staging, world_readable)
        (staging / COMPLETE_MARKER).touch()
        try:
            os.rename(staging, final)
        except OSError:
            # Another worker process staged the same test set first; use theirs.
            if not (final / COMPLETE_MARKER).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    stage_cache.used(final)
    if max_bytes is not None:
        stage_cache.evict(final.parent.parent, max_bytes)
    return final


def _set_modes(root: Path, world_readable: bool) -> None:
    dir_mode, file_mode = (0o755, 0o644) if world_readable else (0o700, 0o600)
    os.chmod(root, dir_mode)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), dir_mode)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), file_mode)
