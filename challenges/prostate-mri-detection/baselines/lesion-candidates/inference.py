"""
A grand-challenge.org algorithm for the simulated prostate MRI challenge, laid out as grand-challenge's algorithm
template (DIAGNijmegen/rse-grand-challenge-forge): one run per case, inputs read from /input as
/input/inputs.json describes them, outputs written where the phase's interfaces say.

  /input/images/transverse-adc-prostate-mri/<uuid>.mha      the ADC-like map
  /input/clinical-information-prostate-mri.json             {"patient_age", "psa", "psad", "prostate_volume"}
  /output/images/cspca-detection-map/output.mha             lesion candidates, each one constant likelihood
  /output/cspca-case-level-likelihood.json                  the largest of them (0 when there are none)

The template's scaffolding (the handler looked up by interface, reading inputs, writing outputs) is in
grand_challenge.py and the 26-connected labelling in components.py, both in ../_shared/ and shared with
psa-density/; `podium baselines` puts them, and mha.py (numpy in place of SimpleITK), beside this file in the
image's /opt/app. Any container that behaves the same will do.

The method (numpy only, nothing trained; the settings in resources/settings.json were read off the public
training cases): smooth in-plane, divide by the median of the central region (the scanner's calibration), take
the voxels darker than a threshold inside that region and away from air, keep 26-connected candidates of a
minimum size, and give each a likelihood from its darkness alone (adding PSA density made the lesion ranking
worse: it lifts every candidate of a case alike).
"""
import numpy
from components import components, neighbours
from grand_challenge import (
    INPUT_PATH,
    RESOURCE_PATH,
    load_image_file_as_array,
    load_json_file,
    run,
    write_cspca_outputs,
)


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
    write_cspca_outputs(
        detection_map=output_cspca_detection_map,
        case_level_likelihood=output_cspca_case_level_likelihood,
        like=header,
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


def grow(mask, voxels):
    for _ in range(voxels):
        mask = numpy.logical_or.reduce([mask, *neighbours(mask, False)])
    return mask


HANDLERS = {
    ("clinical-information-prostate-mri", "transverse-adc-prostate-mri"): interf0_handler,
}


if __name__ == "__main__":
    raise SystemExit(run(HANDLERS))
