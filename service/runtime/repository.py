"""What the model directory holds: every model and version on disk, and which to serve.

Two layouts side by side. The flat one: manifests (``NAME.json``) with their ONNX files, and
bare ONNX files, at the top; each is one version (its manifest's, or "1"). Triton's:
``NAME/VERSION/`` folders, each holding a version's manifest and ONNX files (or one bare ONNX
file), the version being the folder's name (a positive integer), with an optional
``NAME/config.json`` whose ``version_policy`` picks the versions to serve, as Triton's does:
``{"latest": {"num_versions": N}}``, ``{"all": {}}`` or ``{"specific": {"versions": [1, 3]}}``;
the latest one by default.

Scanning reads only manifests and file sizes and times; loading is ``loader.load_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnn_serve.contract.manifest import Manifest

CONFIG = "config.json"
# (file name, size, modification time in ns) of each file a version reads: a change to any of
# them is a new fingerprint, and the poller loads the version again.
Fingerprint = tuple[tuple[str, int, int], ...]


class _Latest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_versions: int = Field(default=1, ge=1)


class _Specific(BaseModel):
    model_config = ConfigDict(extra="forbid")
    versions: list[int] = Field(min_length=1)


class VersionPolicy(BaseModel):
    """Triton's version_policy: exactly one of latest, all and specific."""

    model_config = ConfigDict(extra="forbid")
    latest: _Latest | None = None
    all: dict[str, object] | None = None
    specific: _Specific | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> VersionPolicy:
        given = [k for k in ("latest", "all", "specific") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"version_policy takes one of latest, all, specific; got {given}")
        return self

    def choose(self, versions: list[str]) -> list[str]:
        """The versions to serve, newest first."""
        newest = sorted(versions, key=version_key, reverse=True)
        if self.all is not None:
            return newest
        if self.specific is not None:
            wanted = {str(v) for v in self.specific.versions}
            return [v for v in newest if v in wanted]
        return newest[: (self.latest or _Latest()).num_versions]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Triton's config.json holds more than this
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)


@dataclass(frozen=True)
class OnDisk:
    """One version of a model as the directory holds it."""

    name: str
    version: str
    graph: Path  # the manifest, or the bare ONNX file
    fingerprint: Fingerprint
    refused: str | None = None  # why it cannot be served, seen without loading it

    @property
    def has_manifest(self) -> bool:
        return self.graph.suffix == ".json"


@dataclass
class Listing:
    """What a pass over the model directory found."""

    versions: list[OnDisk] = field(default_factory=list)  # those the policies choose
    # Every (name, version) on disk, chosen or not.
    present: set[tuple[str, str]] = field(default_factory=set)
    # Models whose folder cannot be read as a whole (a bad config.json): name -> why.
    refused: dict[str, str] = field(default_factory=dict)

    def names(self) -> set[str]:
        return {v.name for v in self.versions} | set(self.refused)


def scan(model_dir: Path) -> Listing:
    found = Listing()
    _flat(model_dir, found)
    for folder in sorted(p for p in model_dir.iterdir() if p.is_dir() and _has_versions(p)):
        _versioned(folder, found)
    found.present |= {(v.name, v.version) for v in found.versions}
    return found


def _flat(model_dir: Path, found: Listing) -> None:
    claimed: set[str] = set()
    for path in sorted(model_dir.glob("*.json")):
        manifest = _manifest_or_none(path)
        files = [path] + ([model_dir / n for n in _graph_files(manifest)] if manifest else [])
        claimed.update(f.name for f in files)
        name, version = (manifest.name, manifest.version) if manifest else (path.stem, "1")
        found.versions.append(OnDisk(name, version, path, _fingerprint(files)))
    for path in sorted(model_dir.glob("*.onnx")):
        if path.name not in claimed:
            found.versions.append(OnDisk(path.stem, "1", path, _fingerprint([path])))


def _versioned(folder: Path, found: Listing) -> None:
    name = folder.name
    try:
        config = _config(folder)
    except ValueError as error:
        found.refused[name] = f"{folder.name}/{CONFIG}: {error}"
        return
    versions = {p.name: p for p in folder.iterdir() if p.is_dir() and _is_version(p.name)}
    found.present |= {(name, version) for version in versions}
    for version in config.version_policy.choose(list(versions)):
        found.versions.append(_version(name, version, versions[version]))


def _version(name: str, version: str, folder: Path) -> OnDisk:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    manifests = [p for p in files if p.suffix == ".json"]
    graphs = [p for p in files if p.suffix == ".onnx"]
    where = f"{name}/{version}"
    if len(manifests) > 1:
        listed = ", ".join(p.name for p in manifests)
        return OnDisk(
            name,
            version,
            folder,
            _fingerprint(files),
            f"{where} holds {listed}: one manifest a version",
        )
    if manifests:
        manifest = _manifest_or_none(manifests[0])
        refused = None
        if manifest is not None and manifest.version != version:
            refused = (
                f"{where}: its manifest says version {manifest.version!r}; a version folder's "
                "manifest must name the folder's version"
            )
        elif manifest is not None and manifest.name != name:
            refused = f"{where}: its manifest names model {manifest.name!r}"
        return OnDisk(name, version, manifests[0], _fingerprint(files), refused)
    if len(graphs) == 1:
        return OnDisk(name, version, graphs[0], _fingerprint(files))
    why = "no ONNX file" if not graphs else f"{len(graphs)} ONNX files and no manifest"
    return OnDisk(name, version, folder, _fingerprint(files), f"{where} holds {why}")


def _config(folder: Path) -> ModelConfig:
    path = folder / CONFIG
    if not path.is_file():
        return ModelConfig()
    try:
        return ModelConfig.model_validate_json(path.read_bytes())
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ValueError(f"{where}: {first['msg']}") from error


def version_key(version: str) -> tuple[int, int | str]:
    """Versions in order: numbers by value, before any other name (a flat manifest's may be
    anything)."""
    return (1, int(version)) if version.isascii() and version.isdigit() else (0, version)


def _has_versions(folder: Path) -> bool:
    return any(p.is_dir() and _is_version(p.name) for p in folder.iterdir())


def _is_version(name: str) -> bool:
    return name.isascii() and name.isdigit() and int(name) > 0


def _manifest_or_none(path: Path) -> Manifest | None:
    """The manifest, or None when it cannot be read (loading it then says why)."""
    try:
        return Manifest.read(path)
    except (ValidationError, OSError, ValueError):
        return None


def _graph_files(manifest: Manifest) -> list[str]:
    return [manifest.onnx_file] + ([manifest.batched.onnx_file] if manifest.batched else [])


def _fingerprint(files: list[Path]) -> Fingerprint:
    found = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            found.append((path.name, -1, -1))
            continue
        found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(found)
