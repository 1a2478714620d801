"""
A deliberately weak grand-challenge.org algorithm for the simulated prostate MRI challenge, laid out as
grand-challenge's algorithm template (DIAGNijmegen/rse-grand-challenge-forge), like lesion-candidates/.

It trusts PSA density for the case and a fixed threshold for the lesions: every 26-connected group of at least
three voxels between 400 and 950 on the raw map (no smoothing, no calibration per scanner, no region of interest)
is a candidate, and all of them get the same likelihood, a logistic function of the PSA density. The rims of
the rectum, noise and benign nodules become false positives; the case-level likelihood is that of PSA density.
"""
import numpy
from components import components
from grand_challenge import INPUT_PATH, load_image_file_as_array, load_json_file, run, write_cspca_outputs


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
    write_cspca_outputs(
        detection_map=output_cspca_detection_map,
        case_level_likelihood=output_cspca_case_level_likelihood,
        like=header,
    )
    return 0


HANDLERS = {
    ("clinical-information-prostate-mri", "transverse-adc-prostate-mri"): interf0_handler,
}


if __name__ == "__main__":
    raise SystemExit(run(HANDLERS))
