"""The image files of `image` interfaces, in one place for scoring, test-set reading and the per-case runs.

An image interface's `relative_path` names a folder that holds exactly one image file: MHA, MHD (with the one
data file its header names, in the same folder), NIfTI (.nii, .nii.gz), NRRD (.nrrd, data attached) or TIFF
(.tif, .tiff). Everything is read with SimpleITK, with the reader chosen by the file's extension (never by
probing), and only after the header has been checked:

- a header may not point at data elsewhere (an MHA's ElementDataFile is LOCAL; an MHD's names a file beside it;
  an NRRD has no `data file`; a NIfTI is a single file): a participant's output must never make the worker read
  another file, such as the hidden ground truth;
- the pixel data the header declares is capped (``MAX_IMAGE_BYTES``) before any pixel is read.

Problems are ``ImageFileError``s worded twice (as app.pipeline.scoring's ``Message``): ``full`` may quote file
names, sizes and values; ``safe`` names only the folder's declared path, the interface's own names and rules.

A test set's images are stored as ``<relative_path>/<case_id>.mha`` (an input TIFF as ``.tif``); a DICOM series
(a folder of DICOM files where the image is expected) is converted to MHA with SimpleITK's series reader.
"""

from __future__ import annotations

import gzip
import locale
import math
import os
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import SimpleITK as sitk

    from app.challenge_yaml import ImageRules, Interface

# Extension -> the ITK reader used for it (no probing: what the header check saw is what is read).
IMAGE_IO: dict[str, str] = {".mha": "MetaImageIO", ".mhd": "MetaImageIO", ".nii": "NiftiImageIO",
                            ".nii.gz": "NiftiImageIO", ".nrrd": "NrrdImageIO", ".tif": "TIFFImageIO",
                            ".tiff": "TIFFImageIO"}
FORMATS = "MHA, MHD (with its data file), NIfTI (.nii, .nii.gz), NRRD (.nrrd) or TIFF (.tif, .tiff)"
MAX_IMAGE_BYTES = 1 << 30  # pixel data the platform reads from one image (its header is checked first)
MAX_TEST_SET_IMAGE_BYTES = 8 << 30  # an organiser's image converted when a test set is read
HEADER_BYTES = 1 << 16  # a MetaImage or NRRD header must end within this many bytes

# Grid tolerances (docs/challenges.md): sizes equal; spacings within 1e-4 relative; origins within a thousandth of
# a voxel on every axis; direction cosines within 1e-4. NIfTI stores geometry as float32, which these absorb.
SPACING_RTOL = 1e-4
ORIGIN_VOXELS = 1e-3
DIRECTION_ATOL = 1e-4


class ImageFileError(ValueError):
    """An image file or folder is unusable. full: may quote names, sizes and values; safe: the platform's words."""

    def __init__(self, full: str, safe: str | None = None) -> None:
        super().__init__(full)
        self.full = full
        self.safe = full if safe is None else safe


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, in SimpleITK's (x, y, z) order."""

    dimension: int
    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    pixel_type: str  # of one component: uint8, ..., float64 (or SimpleITK's name of an unusual type)
    components: int

    @property
    def nbytes(self) -> int:
        try:
            itemsize = np.dtype(self.pixel_type).itemsize
        except TypeError:
            itemsize = 16
        return math.prod(self.size) * self.components * itemsize


def image_suffix(name: str) -> str | None:
    """The supported extension of a file name (lower case: '.nii.gz', '.mha', ...), or None."""
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        return ".nii.gz"
    suffix = Path(lower).suffix
    return suffix if suffix in IMAGE_IO else None


def stored_image_name(case_id: str, source_suffix: str, *, ground_truth: bool = False) -> str:
    """The name a test set's image is stored under: `<case_id>.mha`, or `<case_id>.tif` for an input TIFF."""
    keep_tiff = not ground_truth and source_suffix in (".tif", ".tiff")
    return f"{case_id}.tif" if keep_tiff else f"{case_id}.mha"


def ground_truth_image(case_id: str, interface: Interface) -> str:
    """Where an image ground truth lies under the case's folder: `<relative_path>/<case_id>.mha`."""
    return f"{interface.relative_path}/{stored_image_name(case_id, '.mha', ground_truth=True)}"


def find_image(files: Mapping[str, Path], where: str) -> Path:
    """The one image among the files of a folder (name -> local path; `where` is the folder as the platform names
    it). An MHD may have its data file beside it; anything else besides the image is refused."""
    images = sorted(name for name in files if image_suffix(name))
    if not files:
        raise ImageFileError(f"{where} holds no file; write one image file ({FORMATS}) into it")
    if not images:
        names = sorted(files)
        raise ImageFileError(f"{where} holds no image file of a supported format ({FORMATS}): {_names(names)}",
                             f"{where} holds no image file of a supported format ({FORMATS})")
    if len(images) > 1:
        raise ImageFileError(f"{where} holds {len(images)} image files ({_names(images)}); write exactly one",
                             f"{where} holds {len(images)} image files; write exactly one")
    name = images[0]
    companions = set()
    if image_suffix(name) == ".mhd":
        data_file = _metaimage_data_file(files[name], name, where)
        if data_file != "LOCAL":
            if data_file not in files:
                raise ImageFileError(f"{where}{name}: its data file {data_file!r} is not in the same folder",
                                     f"the MHD header in {where} names a data file that is not in the same folder")
            companions.add(data_file)
    others = sorted(set(files) - {name} - companions)
    if others:
        raise ImageFileError(f"{where} holds other files besides the image {name}: {_names(others)}; write exactly "
                             "one image file (and, for an MHD, its data file)",
                             f"{where} holds {len(others) + 1} files; write exactly one image file (and, for an MHD, "
                             "its data file)")
    return files[name]


def read_header(path: Path, where: str) -> ImageHeader:
    """The header of a supported image file, after checking that it reads no other file (see the module doc)."""
    import SimpleITK as sitk

    suffix = image_suffix(path.name)
    if suffix is None:
        raise ImageFileError(f"{where}{path.name} is not a supported image file ({FORMATS})",
                             f"{where} holds a file of no supported image format ({FORMATS})")
    _check_self_contained(path, suffix, where)
    reader = sitk.ImageFileReader()
    reader.SetImageIO(IMAGE_IO[suffix])
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise _unreadable(path, where, exc) from None
    dimension = int(reader.GetDimension())
    return ImageHeader(dimension=dimension, size=tuple(int(s) for s in reader.GetSize()),
                       spacing=tuple(float(s) for s in reader.GetSpacing()),
                       origin=tuple(float(o) for o in reader.GetOrigin()),
                       direction=tuple(float(d) for d in reader.GetDirection()),
                       pixel_type=_component_type(reader.GetPixelID()),
                       components=int(reader.GetNumberOfComponents()))


def read_image(path: Path, where: str, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> sitk.Image:
    """The image (pixels and geometry); refused before reading when its header declares more than max_bytes."""
    import SimpleITK as sitk

    check_size(path, where, header, max_bytes)
    reader = sitk.ImageFileReader()
    reader.SetImageIO(IMAGE_IO[image_suffix(path.name) or ".mha"])
    reader.SetFileName(str(path))
    try:
        image: sitk.Image = reader.Execute()
    except RuntimeError as exc:
        raise _unreadable(path, where, exc) from None
    return image


def check_size(path: Path, where: str, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> None:
    if header.nbytes > max_bytes:
        raise ImageFileError(f"{where}{path.name}: its header declares {_mib(header.nbytes)} of pixel data "
                             f"({'x'.join(map(str, header.size))} voxels), more than the {_mib(max_bytes)} the "
                             "platform reads from one image",
                             f"{where}: the image's header declares more pixel data than the platform reads from "
                             f"one image ({_mib(max_bytes)})")


# --- an output against its interface's rules -------------------------------------------------------------------

def check_output_image(path: Path, where: str, rules: ImageRules | None,
                       grid: tuple[str, ImageHeader] | None) -> None:
    """Raise ImageFileError for the first rule the output image breaks (header rules before any pixel is read).

    grid: the name and header of the input whose grid the output must share (rules.same_grid_as).
    """
    header = read_header(path, where)
    check_size(path, where, header)
    if rules is None:
        return
    name = f"{where}{path.name}"
    if rules.dimensions is not None and header.dimension != rules.dimensions:
        raise ImageFileError(f"{name}: the image is {header.dimension}-D; a {rules.dimensions}-D image is expected",
                             f"{where}: the image is not {rules.dimensions}-D")
    if rules.pixel_type is not None and header.pixel_type not in rules.pixel_type:
        allowed = ", ".join(rules.pixel_type)
        raise ImageFileError(f"{name}: its pixel type {header.pixel_type} is not one of {allowed}",
                             f"{where}: the image's pixel type is not one of {allowed}")
    if grid is not None:
        input_name, reference = grid
        difference = grid_difference(header, reference)
        if difference is not None:
            what, detail = difference
            raise ImageFileError(f"{name}: the image's {what} {detail} differs from the grid of input "
                                 f"{input_name!r}",
                                 f"{where}: the image's {what} differs from the grid of input {input_name!r}")
    if rules.values is None and rules.range is None:
        return
    pixels = _pixels(read_image(path, where, header))
    if rules.values is not None:
        allowed_values = np.asarray(rules.values)
        outside = ~np.isin(pixels, allowed_values)
        if outside.any():
            listed = ", ".join(f"{v:g}" for v in rules.values)
            examples = ", ".join(f"{v:g}" for v in np.unique(pixels[outside])[:5])
            raise ImageFileError(f"{name}: the image holds values other than {listed} (e.g. {examples})",
                                 f"{where}: the image holds values other than those allowed ({listed})")
    if rules.range is not None:
        low, high = rules.range
        inside = (pixels >= low) & (pixels <= high)  # NaN is outside
        if not inside.all():
            finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
            seen = (f"values from {finite.min():g} to {finite.max():g}" if finite.size else "no finite value")
            nan = " and NaN" if finite.size != pixels.size else ""
            raise ImageFileError(f"{name}: the image holds {seen}{nan}, outside the range [{low:g}, {high:g}]",
                                 f"{where}: the image holds values outside the range [{low:g}, {high:g}]")


def grid_difference(image: ImageHeader, reference: ImageHeader) -> tuple[str, str] | None:
    """The first grid property (dimension, size, spacing, origin, direction) in which `image` differs from
    `reference` beyond the tolerances above, with both values; None when they share a grid."""
    if image.dimension != reference.dimension:
        return "dimension", f"({image.dimension}-D, the input is {reference.dimension}-D)"
    if image.size != reference.size:
        return "size", f"{image.size} (the input's is {reference.size})"
    if not np.allclose(image.spacing, reference.spacing, rtol=SPACING_RTOL, atol=0.0):
        return "spacing", f"{_rounded(image.spacing)} (the input's is {_rounded(reference.spacing)})"
    tolerance = ORIGIN_VOXELS * np.asarray(reference.spacing)
    if np.any(np.abs(np.asarray(image.origin) - np.asarray(reference.origin)) > tolerance):
        return "origin", f"{_rounded(image.origin)} (the input's is {_rounded(reference.origin)})"
    if not np.allclose(image.direction, reference.direction, rtol=0.0, atol=DIRECTION_ATOL):
        return "direction", f"{_rounded(image.direction)} (the input's is {_rounded(reference.direction)})"
    return None


# --- a test set's images ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredImage:
    name: str  # the stored file's name, `<case_id>.mha` or `<case_id>.tif`
    source: Path  # the local file to store: the organiser's own file, or a conversion written to the work folder


def test_set_image(folder: Path, case_id: str, *, ground_truth: bool, work_dir: Path) -> StoredImage:
    """Check the image (or DICOM series) in a test set's folder and give the single file to store for it.

    An MHA (and an input TIFF) is stored as it is; any other format, an MHD with its data file, a ground-truth
    TIFF and a DICOM series are converted to one MHA written into work_dir.
    """
    where = f"{folder}/"
    if folder.is_symlink() or not folder.is_dir():
        raise ImageFileError(f"{folder}: missing; an image interface is a folder holding one image file "
                             f"({FORMATS}) or a DICOM series")
    entries = sorted(folder.iterdir())
    odd = [e.name for e in entries if e.is_symlink() or not e.is_file()]
    if odd:
        raise ImageFileError(f"{folder}: holds {_names(odd)}, which {'is' if len(odd) == 1 else 'are'} not a regular "
                             "file; the folder holds one image file or the files of one DICOM series, nothing else")
    files = {e.name: e for e in entries}
    if files and not any(image_suffix(name) for name in files):
        return _dicom_series(folder, case_id, work_dir)
    path = find_image(files, where)
    header = read_header(path, where)
    suffix = image_suffix(path.name) or ".mha"
    name = stored_image_name(case_id, suffix, ground_truth=ground_truth)
    check_size(path, where, header, MAX_TEST_SET_IMAGE_BYTES)
    if suffix == ".mha" or name.endswith(".tif"):
        return StoredImage(name, path)
    image = read_image(path, where, header, MAX_TEST_SET_IMAGE_BYTES)
    return StoredImage(name, _write_mha(image, work_dir))


@contextmanager
def keeping_locale() -> Iterator[None]:
    """GDCM (SimpleITK's DICOM library) may leave the process's C locale at "C": Python would then read and write
    every text file without an explicit encoding as ASCII. Whatever it sets inside the block is undone."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _dicom_series(folder: Path, case_id: str, work_dir: Path) -> StoredImage:
    with keeping_locale():
        return _read_dicom_series(folder, case_id, work_dir)


def _read_dicom_series(folder: Path, case_id: str, work_dir: Path) -> StoredImage:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    series = list(reader.GetGDCMSeriesIDs(str(folder)))
    if not series:
        raise ImageFileError(f"{folder}: holds no image file of a supported format ({FORMATS}) and no DICOM series")
    if len(series) > 1:
        raise ImageFileError(f"{folder}: holds {len(series)} DICOM series; a folder holds one image")
    names = list(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    first = sitk.ImageFileReader()
    first.SetImageIO("GDCMImageIO")
    first.SetFileName(names[0])
    try:
        first.ReadImageInformation()
    except RuntimeError as exc:
        raise _unreadable(Path(names[0]), f"{folder}/", exc) from None
    header = ImageHeader(dimension=3, size=(*first.GetSize()[:2], len(names)), spacing=(1.0, 1.0, 1.0),
                         origin=(0.0, 0.0, 0.0), direction=(), pixel_type=_component_type(first.GetPixelID()),
                         components=int(first.GetNumberOfComponents()))
    check_size(Path(names[0]), f"{folder}/", header, MAX_TEST_SET_IMAGE_BYTES)
    reader.SetFileNames(names)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise ImageFileError(f"{folder}: the DICOM series cannot be read ({_last_line(exc, folder)})") from None
    return StoredImage(stored_image_name(case_id, ".mha"), _write_mha(image, work_dir))


def _write_mha(image: sitk.Image, work_dir: Path) -> Path:
    """One compressed MHA in work_dir (MetaImage writes no time stamp: the same image gives the same bytes)."""
    import SimpleITK as sitk

    work_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".mha", dir=work_dir)
    os.close(handle)
    sitk.WriteImage(image, name, useCompression=True)
    return Path(name)


# --- header checks -------------------------------------------------------------------------------------------------

def _check_self_contained(path: Path, suffix: str, where: str) -> None:
    if suffix == ".mha":
        data_file = _metaimage_data_file(path, path.name, where)
        if data_file != "LOCAL":
            raise ImageFileError(f"{where}{path.name}: an MHA must hold its data (ElementDataFile = LOCAL), not "
                                 f"name another file ({data_file!r})",
                                 f"{where}: the MHA names another file as its data; an MHA must hold its data "
                                 "(ElementDataFile = LOCAL)")
    elif suffix == ".nrrd":
        for key in _nrrd_fields(path, where):
            if key.replace(" ", "") == "datafile":
                raise ImageFileError(f"{where}{path.name}: a detached NRRD header (it names a data file); write "
                                     "the data into the .nrrd itself",
                                     f"{where}: the NRRD header names a data file; write the data into the .nrrd "
                                     "itself")
    elif suffix in (".nii", ".nii.gz") and _nifti_is_a_pair(path):
        raise ImageFileError(f"{where}{path.name}: a NIfTI header without its data (a .hdr/.img pair); write a "
                             "single-file .nii or .nii.gz",
                             f"{where}: the NIfTI file is a header without its data; write a single-file .nii or "
                             ".nii.gz")


def _metaimage_data_file(path: Path, name: str, where: str) -> str:
    """The ElementDataFile of a MetaImage header: 'LOCAL' or a plain file name in the same folder."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    for line in head.split(b"\n"):
        key, _, value = line.decode("latin-1").partition("=")
        if key.strip() == "ElementDataFile":
            data_file = value.strip()
            if data_file.upper() == "LOCAL":
                return "LOCAL"
            if (not data_file or "/" in data_file or "\\" in data_file or " " in data_file or "%" in data_file
                    or data_file.upper() == "LIST" or data_file in (".", "..")):
                raise ImageFileError(f"{where}{name}: ElementDataFile {data_file!r} is not a plain file name beside "
                                     "the header",
                                     f"{where}: the MetaImage header's ElementDataFile is not a plain file name "
                                     "beside it")
            return data_file
    raise ImageFileError(f"{where}{name}: not a MetaImage file (no ElementDataFile line in its first "
                         f"{HEADER_BYTES // 1024} KiB)",
                         f"{where}: the file is not a MetaImage file (no ElementDataFile in its header)")


def _nrrd_fields(path: Path, where: str) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    if not head.startswith(b"NRRD"):
        raise ImageFileError(f"{where}{path.name}: not a NRRD file (it does not start with 'NRRD')",
                             f"{where}: the file is not a NRRD file")
    fields: list[str] = []
    for line in head.split(b"\n")[1:]:
        text = line.decode("latin-1").strip()
        if not text:
            return fields
        if not text.startswith("#") and ":" in text:
            fields.append(text.split(":", 1)[0].strip().lower())
    raise ImageFileError(f"{where}{path.name}: its NRRD header does not end within {HEADER_BYTES // 1024} KiB",
                         f"{where}: the NRRD header is too long")


def _nifti_is_a_pair(path: Path) -> bool:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                head = handle.read(544)
        else:
            with path.open("rb") as handle:
                head = handle.read(544)
    except (OSError, EOFError):
        return False  # not gzip, or truncated: the reader says so
    if len(head) < 348:
        return False
    for order in ("<", ">"):
        size = struct.unpack(f"{order}i", head[:4])[0]
        if size == 348:
            return head[344:347] == b"ni1"
        if size == 540 and len(head) >= 8:
            return head[4:7] == b"ni2"
    return False


def _component_type(pixel_id: int) -> str:
    import SimpleITK as sitk

    names = {
        sitk.sitkUInt8: "uint8", sitk.sitkInt8: "int8", sitk.sitkUInt16: "uint16", sitk.sitkInt16: "int16",
        sitk.sitkUInt32: "uint32", sitk.sitkInt32: "int32", sitk.sitkUInt64: "uint64", sitk.sitkInt64: "int64",
        sitk.sitkFloat32: "float32", sitk.sitkFloat64: "float64",
        sitk.sitkVectorUInt8: "uint8", sitk.sitkVectorInt8: "int8", sitk.sitkVectorUInt16: "uint16",
        sitk.sitkVectorInt16: "int16", sitk.sitkVectorUInt32: "uint32", sitk.sitkVectorInt32: "int32",
        sitk.sitkVectorUInt64: "uint64", sitk.sitkVectorInt64: "int64", sitk.sitkVectorFloat32: "float32",
        sitk.sitkVectorFloat64: "float64",
    }
    return names.get(pixel_id) or sitk.GetPixelIDValueAsString(pixel_id)


def _pixels(image: sitk.Image) -> np.ndarray:
    import SimpleITK as sitk

    return np.asarray(sitk.GetArrayFromImage(image))  # a copy: a view would outlive the image


def _unreadable(path: Path, where: str, exc: Exception) -> ImageFileError:
    return ImageFileError(f"{where}{path.name} cannot be read as an image ({_last_line(exc, path)})",
                          f"{where}: the image file cannot be read")


def _last_line(exc: Exception, path: Path) -> str:
    """ITK's message, last line, with the worker's own paths left out."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    for shown in (str(path.parent), str(path)):
        text = text.replace(shown + "/", "").replace(shown, path.name)
    return text[:300]


def _names(names: Sequence[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f", ... and {more} more" if more > 0 else "")


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB" if n < 1024**3 else f"{n / 1024**3:,.1f} GiB"


def _rounded(values: Sequence[float]) -> tuple[Any, ...]:
    return tuple(round(v, 6) for v in values)
