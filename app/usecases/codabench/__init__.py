"""Import a Codabench competition bundle as a Podium challenge (docs/codabench.md).

bundle.py reads and normalises competition.yaml (v2, v1/1.5); convert.py writes the challenge folder and the
evaluation images' build recipes (no Docker here); evaluator_adapter.py is the images' entry point.
"""

from app.usecases.codabench.bundle import CodabenchBundleError
from app.usecases.codabench.convert import DEFAULT_BASE_IMAGE, Conversion, EvaluatorBuild, convert_bundle

__all__ = ["DEFAULT_BASE_IMAGE", "CodabenchBundleError", "Conversion", "EvaluatorBuild", "convert_bundle"]
