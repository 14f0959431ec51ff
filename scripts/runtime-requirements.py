"""Prints the serving dependencies from pyproject.toml, for the Docker image.

``cpu`` (default): the project's runtime dependencies, with the ``otel`` extra (traces
export once the OTEL_* variables name an endpoint). ``gpu``: the same with onnxruntime swapped
for the ``gpu`` extra, since the two packages must not share an environment.
"""

import sys
import tomllib

variant = sys.argv[1] if len(sys.argv) > 1 else "cpu"
with open("pyproject.toml", "rb") as handle:
    project = tomllib.load(handle)["project"]
extras = project["optional-dependencies"]
requirements = list(project["dependencies"]) + extras["otel"]
if variant == "gpu":
    requirements = [r for r in requirements if not r.startswith("onnxruntime")]
    requirements += extras["gpu"]
elif variant != "cpu":
    sys.exit(f"unknown variant {variant!r}: expected cpu or gpu")
print("\n".join(requirements))
