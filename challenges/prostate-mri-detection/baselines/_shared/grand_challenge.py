"""
The scaffolding of grand-challenge's algorithm template (DIAGNijmegen/rse-grand-challenge-forge) that both
baselines share: the handler is looked up by the sorted slugs of /input/inputs.json, inputs are read and outputs
written where the phase's interfaces say. Each baseline's inference.py keeps only its handler (its method).

The template reads and writes images with SimpleITK; this base image has numpy only, so mha.py does it, keeping
the input's geometry on the detection map.

`podium baselines` copies this folder's files into each baseline's build context, so that the image holds them
beside inference.py in /opt/app, as the template's would.
"""
import json
from glob import glob
from pathlib import Path

from mha import read_mha, write_mha

INPUT_PATH = Path("/input")
OUTPUT_PATH = Path("/output")
RESOURCE_PATH = Path("resources")


def run(handlers):
    # The key is a tuple of the slugs of the input sockets
    interface_key = get_interface_key()

    # Look up the handler for this particular set of sockets (i.e. the interface)
    handler = handlers[interface_key]

    # Call the handler
    return handler()


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


def write_cspca_outputs(*, detection_map, case_level_likelihood, like):
    """The two outputs of this challenge's interface: the detection map (on the grid of `like`, the input's
    header) and the case-level likelihood."""
    write_array_as_image_file(
        location=OUTPUT_PATH / "images/cspca-detection-map",
        array=detection_map,
        like=like,
    )
    write_json_file(
        location=OUTPUT_PATH / "cspca-case-level-likelihood.json",
        content=case_level_likelihood,
    )
