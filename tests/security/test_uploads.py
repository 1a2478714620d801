"""Hostile upload archives: refused at upload with a reason (HTTP 400/413) and never queued, or contained."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.security.archives import SavedImage, device, gzip_bomb, layer_tar, link, member_bomb
from tests.security.images import HostileImages
from tests.security.instance import Platform

pytestmark = pytest.mark.docker

PREFIX = "the upload is not a usable container image: "
HOW_TO = "docker save IMAGE | gzip > algorithm.tar.gz"
MISSING_LAYER = "0" * 64 + "/layer.tar"


def _with(change: Callable[[SavedImage], object]) -> Callable[[SavedImage, Path], Path]:
    def make(image: SavedImage, path: Path) -> Path:
        change(image)
        return image.write(path)
    return make


def _two_images(image: SavedImage) -> None:
    entry = image.manifest[0]
    image.set_manifest([entry, {**entry, "RepoTags": ["second:latest"]}])


def _missing_layer(image: SavedImage) -> None:
    manifest = image.manifest
    manifest[0]["Layers"].append(MISSING_LAYER)
    image.set_manifest(manifest)


def _arm64(image: SavedImage) -> None:
    image.edit_config(lambda config: config.update(architecture="arm64", variant="v8"))


# name -> (how to make it from a real archive, the exact reason shown to the participant)
REFUSED: dict[str, tuple[Callable[[SavedImage, Path], Path], str]] = {
    "path traversal": (
        _with(lambda image: image.put("../../etc/cron.d/podium", b"* * * * * root sh -c evil\n")),
        "the archive member '../../etc/cron.d/podium' contains a '..' path component, which could write outside "
        f"the archive; upload the unmodified output of: {HOW_TO}"),
    "absolute path": (
        _with(lambda image: image.put("/etc/cron.d/podium", b"* * * * * root sh -c evil\n")),
        "the archive member '/etc/cron.d/podium' has an absolute path, which could overwrite files outside the "
        f"archive; upload the unmodified output of: {HOW_TO}"),
    "symbolic link to a host file": (
        _with(lambda image: image.add(link("shadow", "/etc/shadow"))),
        f"the archive member 'shadow' is a symbolic link to '/etc/shadow', which points outside the archive; "
        f"upload the unmodified output of: {HOW_TO}"),
    "symbolic link climbing out": (
        _with(lambda image: image.add(link("up", "../../../etc"))),
        f"the archive member 'up' is a symbolic link to '../../../etc', which points outside the archive; "
        f"upload the unmodified output of: {HOW_TO}"),
    "hard link climbing out": (
        _with(lambda image: image.add(link("passwd", "../../etc/passwd", tarfile.LNKTYPE))),
        f"the archive member 'passwd' is a hard link to '../../etc/passwd', which points outside the archive; "
        f"upload the unmodified output of: {HOW_TO}"),
    "device node": (
        _with(lambda image: image.add(device("dev/mem"))),
        f"the archive member 'dev/mem' is a device node, which an image archive never contains; upload the "
        f"output of: {HOW_TO}"),
    "two images": (
        _with(_two_images),
        "the archive holds 2 images; it must hold exactly one image: docker save IMAGE | gzip > algorithm.tar.gz "
        "(name one image only)"),
    "manifest naming a missing layer": (
        _with(_missing_layer),
        f"manifest.json names the layer '{MISSING_LAYER}', which is not in the archive; the archive is "
        f"incomplete: create it again with: {HOW_TO}"),
    "arm64 image": (
        _with(_arm64),
        "the image is built for linux/arm64/v8, but only linux/amd64 can run here; rebuild it with: docker build "
        f"--platform linux/amd64 ..., then {HOW_TO}"),
    "tar bomb (members)": (
        lambda image, path: member_bomb(path),
        f"the archive has more than 100000 members, which no image needs; upload a single image made with: "
        f"{HOW_TO}"),
}


def test_hostile_archives_are_refused_at_upload_and_never_queued(platform: Platform, hostile: HostileImages,
                                                                 tmp_path: Path) -> None:
    original = SavedImage.read(hostile.attack("markup").archive).untagged()
    token = platform.participant("uploader")

    outcomes = {}
    for name, (make, _reason) in REFUSED.items():
        archive = make(original.copy(), tmp_path / f"{name.replace(' ', '-')}.tar.gz")
        status, body = platform.refuse(token, archive)
        outcomes[name] = (status, body["error"])
        submission = platform.result(body["submission_id"])
        assert (submission["state"], submission["failure_message"]) == ("failed", body["error"]), name
        assert platform.resources.store.list(f"submissions/{body['submission_id']}/") == [], name
    status, body = platform.refuse(token, gzip_bomb(tmp_path / "bomb.tar.gz"))

    assert outcomes == {name: (400, PREFIX + reason) for name, (_make, reason) in REFUSED.items()}
    assert status == 400
    assert body["error"].startswith(PREFIX + "the archive looks like a decompression bomb: ")
    assert "was still going (ratio" in body["error"] and "at most 200 is allowed" in body["error"]
    assert platform.queued() == 0


def test_an_archive_over_the_phase_limit_is_refused_before_it_is_read(platform: Platform, hostile: HostileImages,
                                                                      tmp_path: Path) -> None:
    platform.set_limits(max_upload_mb=1)
    big = SavedImage.read(hostile.attack("markup").archive).untagged()
    big.put("padding.bin", bytes(range(256)) * 8192)  # 2 MiB
    token = platform.participant("uploader")

    status, body = platform.refuse(token, big.write(tmp_path / "big.tar", compress=False))

    assert (status, body) == (413, {"error": "the upload is larger than this phase's limit of 1 MiB; make the image "
                                             "smaller (e.g. a slimmer base image) and upload again",
                                    "submission_id": None})
    mine = platform.client.get("/api/v1/challenges/breast-cancer-wisconsin/phases/test/submissions",
                               headers={"Authorization": f"Bearer {token}"}).get_json()
    assert mine == [] and platform.queued() == 0


def test_paths_escaping_inside_a_layer_stay_inside_the_image(platform: Platform, hostile: HostileImages,
                                                              docker_client: docker.DockerClient,
                                                              tmp_path: Path) -> None:
    """The platform does not read layers; Docker's extraction confines their paths to the image."""
    image = SavedImage.read(hostile.attack("layer-escape").archive).untagged()
    image_id = image.add_layer(layer_tar({"../../../../../../etc/podium-escape-relative": b"relative",
                                          "/etc/podium-escape-absolute": b"absolute"}))
    submission = platform.submit(platform.participant("escaper"), image.write(tmp_path / "escape.tar.gz"))

    platform.drain()

    result = platform.result(submission)
    assert result["state"] == "succeeded", result["failure_message"]
    assert platform.log(submission, "stdout") == (b"/etc/podium-escape-relative: relative\n"
                                                  b"/etc/podium-escape-absolute: absolute\n")
    for path in (Path("/etc/podium-escape-relative"), Path("/etc/podium-escape-absolute"),
                 Path("/podium-escape-relative")):
        assert not path.exists(), path
    with pytest.raises(docker.errors.ImageNotFound):  # released with the submission: no layer left behind
        docker_client.images.get(image_id)
