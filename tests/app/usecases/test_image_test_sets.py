"""A test set's image inputs and ground truth are checked and stored as one file each: `<case_id>.mha` (an input
TIFF as `.tif`); NIfTI, NRRD, MHD and DICOM series are converted to MHA with their geometry and pixels; the content
hash is the same each time the same folder is read. Real files written with SimpleITK in tmp_path."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from sqlalchemy import select

from app.challenge_yaml import PhaseSpec
from app.image_files import keeping_locale
from app.models import Challenge, Phase
from app.pipeline.staging import stage_ground_truth, stage_inputs, staged_input_images
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.test_set_folder import TestSetError as FolderError
from app.usecases.test_set_folder import read_test_set
from app.usecases.test_set_upload import replace_test_set
from app.usecases.users import create_user

SPACING = (0.7, 0.8, 2.5)
ORIGIN = (-20.0, 10.0, 5.0)


def _phase(input_kind: str = "image") -> PhaseSpec:
    return PhaseSpec.model_validate({
        "slug": "test", "title": "Test", "test_set": "data/test",
        "inputs": [{"slug": "ct", "kind": input_kind, "relative_path": "images/ct"}],
        "outputs": [{"slug": "segmentation", "kind": "image", "relative_path": "images/segmentation",
                     "image": {"same_grid_as": "ct", "values": [0, 1]}}],
        "ground_truth": [{"slug": "mask", "kind": "image", "relative_path": "images/mask"}],
        "metrics": [{"name": "dice", "prediction": "segmentation", "target": "mask"}],
        "ranking": {"metric": "dice"},
    })


def _volume(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1000, 1000, size=(3, 4, 5)).astype(np.int16)  # (z, y, x)


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING[:image.GetDimension()])
    image.SetOrigin(ORIGIN[:image.GetDimension()])
    return image


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(_image(array), str(path))


def write_dicom_series(folder: Path, array: np.ndarray | sitk.Image, series: str = "1.2.826.0.1.3680043.2.1125.1"
                       ) -> None:
    """One slice per file, as a CT scanner writes them (positions, orientation, one series UID)."""
    folder.mkdir(parents=True, exist_ok=True)
    volume = array if isinstance(array, sitk.Image) else _image(array)
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.KeepOriginalImageUIDOn()
    with keeping_locale():  # GDCM's writer leaves the C locale at "C" (ASCII for every later open() here)
        _write_slices(writer, volume, folder, series)


def _write_slices(writer: sitk.ImageFileWriter, volume: sitk.Image, folder: Path, series: str) -> None:
    for z in range(volume.GetDepth()):
        part = volume[:, :, z]
        for tag, value in (("0008|0060", "CT"), ("0020|000e", series), ("0020|000d", series + ".0"),
                           ("0008|0008", "DERIVED\\SECONDARY"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                           ("0020|0032", "\\".join(map(str, volume.TransformIndexToPhysicalPoint((0, 0, z))))),
                           ("0020|0013", str(z + 1)), ("0008|0018", f"{series}.{z + 1}")):
            part.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"IM{series[-1]}{z:04d}"))
        writer.Execute(part)


def _test_set(root: Path, inputs: dict[str, tuple[str, np.ndarray]]) -> Path:
    root.mkdir(parents=True)
    (root / "cases.csv").write_text("case_id,site\n" + "".join(f"{c},a\n" for c in inputs))
    for case, (name, array) in inputs.items():
        folder = root / "inputs" / case / "images/ct"
        if name == "dicom":
            write_dicom_series(folder, array)
        else:
            _write(folder / name, array)
        _write(root / "ground_truth" / case / "images/mask" / "mask.nii.gz", (array > 0).astype(np.uint8))
    return root


def _array(path: Path) -> tuple[np.ndarray, sitk.Image]:
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image), image


FORMATS = ["image.mha", "image.mhd", "image.nii", "image.nii.gz", "image.nrrd", "dicom"]


def test_every_format_is_stored_as_one_mha_with_its_geometry_and_pixels(tmp_path: Path) -> None:
    volumes = {f"case-{i}": (name, _volume(i)) for i, name in enumerate(FORMATS)}
    root = _test_set(tmp_path / "set", volumes)
    content = read_test_set(root, _phase())
    assert [c.inputs["ct"] for c in content.cases] == [f"case-{i}/images/ct/case-{i}.mha" for i in range(len(FORMATS))]
    assert "inputs/case-0/images/ct/case-0.mha" in content.files
    assert "ground_truth/case-0/images/mask/case-0.mha" in content.files
    assert not any(f.endswith(("mhd", "raw", "nii", "nii.gz", "nrrd")) or "IM0" in f for f in content.files)
    assert content.path_of("inputs/case-0/images/ct/case-0.mha") == root / "inputs/case-0/images/ct/image.mha"
    for i, (name, array) in enumerate(volumes.values()):
        pixels, image = _array(content.path_of(f"inputs/case-{i}/images/ct/case-{i}.mha"))
        assert np.array_equal(pixels, array), name
        assert image.GetSpacing() == pytest.approx(SPACING, rel=1e-6), name
        assert image.GetOrigin() == pytest.approx(ORIGIN, abs=1e-4), name
        mask, _ = _array(content.path_of(f"ground_truth/case-{i}/images/mask/case-{i}.mha"))
        assert np.array_equal(mask, array > 0)
    again = read_test_set(root, _phase())
    assert again.content_hash == content.content_hash  # conversions are deterministic


def test_an_input_tiff_is_kept_as_tif_and_a_ground_truth_tiff_becomes_mha(tmp_path: Path) -> None:
    root = tmp_path / "set"
    root.mkdir()
    (root / "cases.csv").write_text("case_id\nslide-1\n")
    _write(root / "inputs/slide-1/images/ct/slide.tiff", np.arange(20, dtype=np.uint8).reshape(4, 5))
    _write(root / "ground_truth/slide-1/images/mask/mask.tif", np.ones((4, 5), np.uint8))
    content = read_test_set(root, _phase())
    assert content.cases[0].inputs["ct"] == "slide-1/images/ct/slide-1.tif"
    assert content.path_of("inputs/slide-1/images/ct/slide-1.tif").read_bytes() == \
        (root / "inputs/slide-1/images/ct/slide.tiff").read_bytes()
    mask, _ = _array(content.path_of("ground_truth/slide-1/images/mask/slide-1.mha"))
    assert mask.shape == (4, 5) and mask.all()


@pytest.mark.parametrize(("make", "problem"), [
    (lambda f: f.mkdir(parents=True), "holds no file"),
    (lambda f: (_write(f / "a.mha", _volume(1)), _write(f / "b.nrrd", _volume(2))), "holds 2 image files"),
    (lambda f: (_write(f / "a.mha", _volume(1)), (f / "readme.txt").write_text("x")), "other files besides"),
    (lambda f: (f.mkdir(parents=True), (f / "scan.dat").write_bytes(b"not dicom")), "no DICOM series"),
    (lambda f: (write_dicom_series(f / "x", _volume(1))), "not a regular file"),
    (lambda f: (write_dicom_series(f, _volume(1)), write_dicom_series(f, _volume(2)[:, :, :5], "1.2.3.9")),
     "holds 2 DICOM series"),
    (lambda f: (f.mkdir(parents=True), (f / "a.mha").write_bytes(b"NDims = 3\nElementDataFile = /etc/hostname\n")),
     "is not a plain file name"),
    (lambda f: None, "missing; an image interface is a folder"),
])
def test_a_bad_image_folder_is_refused_with_the_reason(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    root = _test_set(tmp_path / "set", {"c1": ("image.mha", _volume(0))})
    folder = root / "inputs/c1/images/ct"
    shutil.rmtree(folder)
    make(folder)
    with pytest.raises(FolderError) as excinfo:
        read_test_set(root, _phase())
    assert problem in str(excinfo.value)
    assert "inputs/c1/images/ct" in str(excinfo.value)


def _challenge(folder: Path) -> Path:
    """A one-phase challenge folder whose test set holds one case given as a DICOM series."""
    folder.mkdir()
    _test_set(folder / "data/test", {"c1": ("image.mha", _volume(0))})
    spec = _phase().model_dump(mode="json", exclude_none=True)
    import yaml

    (folder / "challenge.yaml").write_text(yaml.safe_dump({"version": 1, "slug": "ct-images", "title": "CT",
                                                           "phases": [spec]}))
    return folder


def test_a_dicom_series_uploaded_as_hidden_input_reaches_the_container_as_mha(resources: Resources,
                                                                                tmp_path: Path) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge(tmp_path / "challenge"))
        organiser, _ = create_user(session, "organiser", is_admin=True)
        session.commit()
    upload = _test_set(tmp_path / "upload", {"c1": ("dicom", _volume(5)), "c2": ("image.nii.gz", _volume(6))})
    archive = tmp_path / "test-set.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(upload.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(upload).as_posix())
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        organiser = session.merge(organiser)
        report = replace_test_set(session, resources.store, phase=phase, archive=archive, actor=organiser,
                                  work_dir=tmp_path / "work")
        assert report.version == 2 and report.case_count == 2
        test_set = session.scalars(select(Challenge)).one().phases[0].current_test_set
        cases = [(c.case_key, dict(c.inputs)) for c in test_set.cases]
        prefix, content_hash = test_set.storage_prefix, test_set.content_hash
    assert dict(cases)["c1"] == {"ct": "c1/images/ct/c1.mha"}
    spec = _phase()
    input_dir = stage_inputs(resources.store, storage_prefix=prefix, content_hash=content_hash, cases=cases,
                             input_paths=[i.relative_path for i in spec.inputs], cache_root=tmp_path / "cache")
    staged = input_dir / "c1/images/ct/c1.mha"
    pixels, image = _array(staged)
    assert np.array_equal(pixels, _volume(5)) and image.GetSpacing() == pytest.approx(SPACING)
    assert sorted(p.name for p in (input_dir / "c1/images/ct").iterdir()) == ["c1.mha"]
    assert staged_input_images(input_dir, ["c1", "c2"], spec.inputs) == {
        "c1": {"ct": staged}, "c2": {"ct": input_dir / "c2/images/ct/c2.mha"}}
    truth_dir = stage_ground_truth(resources.store, storage_prefix=prefix, content_hash=content_hash,
                                   case_ids=["c1", "c2"], truth_paths=["images/mask"], cache_root=tmp_path / "cache",
                                   image_folders=["images/mask"])
    mask, _ = _array(truth_dir / "c2/images/mask/c2.mha")
    assert np.array_equal(mask, _volume(6) > 0)


def test_the_exported_bundle_names_the_stored_images(resources: Resources, tmp_path: Path) -> None:
    from app.usecases.challenge_export import bundle_files

    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge(tmp_path / "challenge"))
        files = bundle_files(session.scalars(select(Challenge)).one(), resources.store)
    names = [name for name, _ in files]
    assert "test-sets/test/inputs/c1/images/ct/c1.mha" in names
    assert "test-sets/test/ground_truth/c1/images/mask/c1.mha" in names
    assert all(resources.store.exists(key) for _, key in files)


def test_image_rules_survive_apply_and_export(resources: Resources, tmp_path: Path) -> None:
    from app.queries.challenge_spec import phase_spec_of

    with resources.session() as session:
        apply_challenge(session, resources.store, _challenge(tmp_path / "challenge"))
        exported = PhaseSpec.model_validate(phase_spec_of(session.scalars(select(Phase)).one()))
    assert exported.outputs == _phase().outputs
    assert exported.outputs[0].image is not None and exported.outputs[0].image.same_grid_as == "ct"
