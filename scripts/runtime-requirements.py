"""Prints the serving dependencies from pyproject.toml, for the Docker image.

``cpu`` (default): the project's runtime dependencies. ``gpu``: the same with onnxruntime
swapped for the ``gpu`` extra, since the two packages must not share an environment.
"""

import sys
import tomllib

variant = sys.argv[1] if len(sys.argv) > 1 else "cpu"
with open("pyproject.toml", "rb") as handle:
    project = tomllib.load(handle)["project"]
requirements = list(project["dependencies"])
if variant == "gpu":
    requirements = [r for r in requirements if not r.startswith("onnxruntime")]
    requirements += project["optional-dependencies"]["gpu"]
elif variant != "cpu":
    sys.exit(f"unknown variant {variant!r}: expected cpu or gpu")
print("\n".join(requirements))
