"""The import rules of docs/architecture.md, read from the source: calls flow one way.

contract <- graphs (ONNX graphs of recurrent stacks) <- model (training, conversion)
contract <- graphs <- service: foundation <- runtime <- engine <- http <- app (composition root)
cli (the rnn-serve command) stands above both and nothing imports it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "rnn_serve"  # one import package: each folder below is rnn_serve.<folder>
FOLDERS = ("cli", "contract", "graphs", "model", "service")
PROJECT = (*FOLDERS, "bench")
# Rank of each part of the service: a module may import its own rank or lower, never higher.
FOUNDATION = (
    "service",
    "service.errors",
    "service.settings",
    "service.logs",
    "service.metrics",
    "service.tracing",
)
LAYERS = {
    "contract": 0,
    "graphs": 1,
    "service.runtime": 2,
    "service.engine": 3,
    "service.http": 4,
    "service.grpc": 4,
}
FRONT_ENDS = ("service.http", "service.grpc")
ENTRY_POINTS = ("service.app", "service.__main__", "service.healthcheck")
ENGINE_API = ("service.engine", "service.engine.calls")  # what a front end may import of it
WEB = ("fastapi", "starlette", "uvicorn")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> Iterator[Path]:
    for package in PROJECT:
        yield from sorted((ROOT / package).rglob("*.py"))


MODULES = {module_name(path): path for path in project_files()}


def short(name: str) -> str:
    """``rnn_serve.service.app`` as the rules name it: ``service.app``."""
    return name.removeprefix(PACKAGE + ".")


def imports(module: str) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import, wherever it stands in the
    file: in functions and under TYPE_CHECKING too."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield short(alias.name), []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            submodules = [f"{short(node.module)}.{name}" for name in names]
            found = [sub for sub in submodules if sub in MODULES]
            yield from ((sub, []) for sub in found)
            rest = [n for n, sub in zip(names, submodules, strict=True) if sub not in found]
            if rest or not found:  # `from package import submodule` imports the submodule alone
                yield short(node.module), rest


def test_the_project_is_imported_through_its_one_package():
    """``from rnn_serve.service.app import ...``, never ``from service.app import ...``: the
    same file under two names would be two modules, with two of every registry and setting."""
    bare = []
    for module in MODULES:
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            bare += [
                f"{module}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FOLDERS
            ]
    assert not bare, "\n".join(bare)
    links = sorted(path.name for path in (ROOT / PACKAGE).iterdir() if path.is_symlink())
    assert links == sorted(FOLDERS)


def project_edges() -> dict[str, set[str]]:
    return {
        module: {target for target, _ in imports(module) if target in MODULES} for module in MODULES
    }


def rank(module: str) -> int | None:
    if module in FOUNDATION:
        return 0
    if module.startswith(ENTRY_POINTS):
        return 5
    for prefix, value in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return value
    return None


def test_the_rules_see_every_layer():
    """Guards the test itself: it must find the modules it rules over."""
    for layer in [*LAYERS, *FOUNDATION, *ENTRY_POINTS]:
        assert layer in MODULES, layer
    assert all(
        rank(m) is not None for m in MODULES if m.startswith(("service", "contract", "graphs"))
    )


def test_there_are_no_import_cycles():
    edges, cycles = project_edges(), []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} (rank {rank(module)}) imports {target} (rank {rank(target)})"
        for module, targets in project_edges().items()
        for target in targets
        if rank(module) is not None and (rank(target) or 0) > (rank(module) or 0)
    ]
    assert not upward, "\n".join(upward)


def test_the_front_end_calls_the_engine_through_its_api_alone():
    """HTTP and gRPC import ``Engine`` and the values of ``calls.py``, never the engine's
    parts or the runtime below: one API for every front end."""
    reaching = [
        f"{module} imports {target}"
        for module, targets in project_edges().items()
        if module.startswith(FRONT_ENDS)
        for target in targets
        if target.startswith(("service.engine", "service.runtime")) and target not in ENGINE_API
    ]
    assert not reaching, "\n".join(reaching)


def test_the_front_end_uses_the_engine_s_methods_not_its_parts():
    """``engine.predict(...)``, never ``engine.dataplane...``: the parts an Engine is wired
    from are the engine's business."""
    parts = {"settings", "metrics", "models", "dataplane", "sequences"}
    reaching = []
    for module in (m for m in MODULES if m.startswith(FRONT_ENDS)):
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if not isinstance(node, ast.Attribute) or node.attr not in parts:
                continue
            owner = node.value
            named = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if named == "engine":
                reaching.append(f"{module}:{node.lineno} engine.{node.attr}")
    assert not reaching, "\n".join(reaching)


def test_model_graphs_and_contract_never_reach_into_the_service_or_the_cli():
    reaching = [
        f"{module} imports {target}"
        for module, targets in project_edges().items()
        if not module.startswith(("cli", "bench"))
        for target in targets
        if target.startswith("cli")
        or (module.startswith(("model", "contract", "graphs")) and target.startswith("service"))
    ]
    assert not reaching, "\n".join(reaching)


def test_serving_never_imports_torch_or_keras():
    """The Docker image has neither: the service, the graphs it builds at load and the
    contract must not need them, not even under TYPE_CHECKING."""
    found = [
        f"{module} imports {target}"
        for module in MODULES
        if module.startswith(("service", "graphs", "contract"))
        for target, _ in imports(module)
        if target.split(".")[0] in ("torch", "keras", "tensorflow")
    ]
    assert not found, "\n".join(found)


def test_runtime_and_web_frameworks_never_meet():
    """No module imports both ONNX Runtime and a web framework, and the engine and runtime
    import no web framework at all."""
    mixed = []
    # bench/naive_app.py is the one-file service we measure ourselves against, on purpose.
    for module in (m for m in MODULES if not m.startswith("bench")):
        roots = {target.split(".")[0] for target, _ in imports(module)}
        web = roots & set(WEB)
        if web and "onnxruntime" in roots:
            mixed.append(f"{module} imports onnxruntime and {sorted(web)}")
        if web and module.startswith(("service.engine", "service.runtime", "contract")):
            mixed.append(f"{module} imports {sorted(web)}")
    assert not mixed, "\n".join(mixed)


def test_bench_uses_public_names_only():
    private = [
        f"{module} takes {name} from {target}"
        for module in MODULES
        if module.startswith("bench")
        for target, names in imports(module)
        if target in MODULES and not target.startswith("bench")
        for name in names
        if name.startswith("_")
    ]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("module", ["service.healthcheck", "service.settings"])
def test_the_health_probe_loads_no_onnxruntime(module):
    heavy = "{'onnxruntime', 'fastapi', 'numpy'}"
    code = f"import sys, {PACKAGE}.{module}; print(sorted(m for m in sys.modules if m in {heavy}))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_tests_that_start_a_real_server_live_under_tests_live():
    """A test's place says whether it talks to a real server over 127.0.0.1: tests/live/ does
    (through ``tests.support.servers.Server`` or its fixtures), the rest run the app in
    process."""
    live = re.compile(
        r"\bServer\b|\bshared_server\b|\"rnn_serve\.service\"|def \w+\([^)]*\bserver\b"
    )
    tests = ROOT / "tests"
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in sorted(tests.rglob("*.py"))
        if not path.is_relative_to(tests / "live")
        and not path.is_relative_to(tests / "support")
        and path != Path(__file__).resolve()  # which names them
        and live.search(path.read_text())
    ]
    assert elsewhere == [], "these start a real server: move them to tests/live/"
