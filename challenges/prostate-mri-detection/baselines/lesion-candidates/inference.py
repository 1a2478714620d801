"""
A grand-challenge.org algorithm for the simulated prostate MRI challenge, laid out as grand-challenge's algorithm
template (DIAGNijmegen/rse-grand-challenge-forge): one run per case, inputs read from /input as
/input/inputs.json describes them, outputs written where the phase's interfaces say.

  /input/images/transverse-adc-prostate-mri/<uuid>.mha      the ADC-like map
  /input/clinical-information-prostate-mri.json             {"patient_age", "psa", "psad", "prostate_volume"}
  /output/images/cspca-detection-map/output.mha             lesion candidates, each one constant likelihood
  /output/cspca-case-level-likelihood.json                  the largest of them (0 when there are none)

The template reads and writes images with SimpleITK; this base image has numpy only, so mha.py does it, keeping
the input's geometry on the detection map. Any container that behaves the same will do.

The method (numpy only, nothing trained; the settings in resources/settings.json were read off the public
training cases): smooth in-plane, divide by the median of the central region (the scanner's calibration), take
the voxels darker than a threshold inside that region and away from air, keep 26-connected candidates of a
minimum size, and give each a likelihood from its darkness alone (adding PSA density made the lesion ranking
worse: it lifts every candidate of a case alike).
"""
import json
from glob import glob
from pathlib import Path

import numpy
from mha import read_mha, write_mha

INPUT_PATH = Path("/input")
OUTPUT_PATH = Path("/output")
RESOURCE_PATH = Path("resources")


def run():
    # The key is a tuple of the slugs of the input sockets
    interface_key = get_interface_key()

    # Look up the handler for this particular set of sockets (i.e. the interface)
    handler = {
        ("clinical-information-prostate-mri", "transverse-adc-prostate-mri"): interf0_handler,
    }[interface_key]

    # Call the handler
    return handler()


def interf0_handler():
    # Read the input
    input_transverse_adc_prostate_mri, header = load_image_file_as_array(
        location=INPUT_PATH / "images/transverse-adc-prostate-mri",
    )
    settings = load_json_file(location=RESOURCE_PATH / "settings.json")

    # Process the inputs
    # /input/clinical-information-prostate-mri.json is not used: see the docstring.
    output_cspca_detection_map = detect_lesions(input_transverse_adc_prostate_mri, settings)
    output_cspca_case_level_likelihood = float(output_cspca_detection_map.max(initial=0.0))

    # Save your output
    write_array_as_image_file(
        location=OUTPUT_PATH / "images/cspca-detection-map",
        array=output_cspca_detection_map,
        like=header,
    )
    write_json_file(
        location=OUTPUT_PATH / "cspca-case-level-likelihood.json",
        content=output_cspca_case_level_likelihood,
    )
    return 0


def detect_lesions(adc, settings):
    """A detection map: 26-connected candidates, each holding one likelihood in (0, 1]; background 0."""
    smoothed = in_plane_mean(adc.astype(numpy.float64))
    z, y, x = (numpy.abs(numpy.linspace(-1.0, 1.0, n)) for n in adc.shape)
    central = (z[:, None, None] <= settings["central_z"]) & (y[None, :, None] <= settings["central_yx"]) \
        & (x[None, None, :] <= settings["central_yx"])
    ratio = smoothed / max(float(numpy.median(smoothed[central])), 1e-6)
    near_air = grow(ratio < settings["air_ratio"], settings["air_margin"])
    candidates = central & ~near_air & (ratio < settings["lesion_ratio"])
    labels = components(candidates)
    detection_map = numpy.zeros(adc.shape, dtype=numpy.float32)
    for label in numpy.unique(labels[candidates]):
        voxels = labels == label
        if voxels.sum() < settings["min_voxels"]:
            continue
        darkness = (settings["lesion_ratio"] - ratio[voxels].mean()) / settings["lesion_ratio"]
        evidence = settings["darkness_weight"] * darkness + settings["bias"]
        detection_map[voxels] = 1.0 / (1.0 + numpy.exp(-evidence))
    return detection_map


def in_plane_mean(values):
    """The mean over each voxel's 3 x 3 in-plane neighbourhood (slices are thick: z is left alone)."""
    padded = numpy.pad(values, [(0, 0), (1, 1), (1, 1)], mode="edge")
    ny, nx = values.shape[1:]
    return sum(padded[:, i:i + ny, j:j + nx] for i in range(3) for j in range(3)) / 9.0


def _neighbours(values, fill):
    """Views of `values` shifted by each of the 26 offsets (outside the image: `fill`)."""
    padded = numpy.pad(values, 1, constant_values=fill)
    nz, ny, nx = values.shape
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                if (dz, dy, dx) != (1, 1, 1):
                    yield padded[dz:dz + nz, dy:dy + ny, dx:dx + nx]


def grow(mask, voxels):
    for _ in range(voxels):
        mask = numpy.logical_or.reduce([mask, *_neighbours(mask, False)])
    return mask


def components(mask):
    """26-connected components, labelled by their smallest voxel index (spread, then pointer jumping)."""
    size = mask.size
    labels = numpy.where(mask, numpy.arange(size).reshape(mask.shape), size)
    while True:
        spread = numpy.minimum.reduce([labels, *_neighbours(labels, size)])
        spread = numpy.where(mask, spread, size).ravel()
        jumped = numpy.append(spread, size)[spread].reshape(mask.shape)
        if numpy.array_equal(jumped, labels):
            return labels
        labels = jumped


def get_interface_key():
    # The inputs.json is a system generated file that contains information about
    # the inputs that interface with the algorithm
    inputs = load_json_file(
        location=INPUT_PATH / "inputs.json",
    )
    socket_slugs = [sv["interface"]["slug"] for sv in inputs]
    return tuple(sorted(socket_slugs))


def load_json_file(*, location):
    # Reads a json file
    with open(location) as f:
        return json.loads(f.read())


def write_json_file(*, location, content):
    # Writes a json file
    with open(location, "w") as f:
        f.write(json.dumps(content, indent=4))


def load_image_file_as_array(*, location):
    # The one image in the folder (grand-challenge gives .mha or .tif; this reader knows .mha)
    input_files = glob(str(location / "*.tif")) + glob(str(location / "*.tiff")) + glob(str(location / "*.mha"))
    return read_mha(input_files[0])


def write_array_as_image_file(*, location, array, like):
    location.mkdir(parents=True, exist_ok=True)
    write_mha(location / "output.mha", array, like)


if __name__ == "__main__":
    raise SystemExit(run())
