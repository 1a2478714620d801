"""
A deliberately weak grand-challenge.org algorithm for the simulated prostate MRI challenge, laid out as
grand-challenge's algorithm template (DIAGNijmegen/rse-grand-challenge-forge), like lesion-candidates/.

It trusts PSA density for the case and a fixed threshold for the lesions: every 26-connected group of at least
three voxels between 400 and 950 on the raw map (no smoothing, no calibration per scanner, no region of interest)
is a candidate, and all of them get the same likelihood, a logistic function of the PSA density. The rims of
the rectum, noise and benign nodules become false positives; the case-level likelihood is that of PSA density.
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
    input_clinical_information_prostate_mri = load_json_file(
        location=INPUT_PATH / "clinical-information-prostate-mri.json",
    )

    # Process the inputs
    psad = float(input_clinical_information_prostate_mri.get("psad") or 0.0)
    likelihood = float(numpy.clip(1.0 / (1.0 + numpy.exp(-12.0 * (psad - 0.2))), 0.01, 0.99))
    candidates = (input_transverse_adc_prostate_mri >= 400) & (input_transverse_adc_prostate_mri <= 950)
    labels = components(candidates)
    output_cspca_detection_map = numpy.zeros(candidates.shape, dtype=numpy.float32)
    found, sizes = numpy.unique(labels[candidates], return_counts=True)
    output_cspca_detection_map[numpy.isin(labels, found[sizes >= 3])] = likelihood
    output_cspca_case_level_likelihood = likelihood

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


def _neighbours(values, fill):
    """Views of `values` shifted by each of the 26 offsets (outside the image: `fill`)."""
    padded = numpy.pad(values, 1, constant_values=fill)
    nz, ny, nx = values.shape
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                if (dz, dy, dx) != (1, 1, 1):
                    yield padded[dz:dz + nz, dy:dy + ny, dx:dx + nx]


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
