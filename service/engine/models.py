"""The served models: every loaded version with what runs it, which version a request gets,
and changes while serving (the repository API and the poller).

A request takes a ``Deployment`` (a version with its runner and batcher) when it starts and
keeps it to the end, so a swap or an unload never changes what an accepted request runs on:
the old version lives until its last request lets go of it. A new or changed version is
loaded and warmed off the event loop, and only then takes traffic; one that fails leaves
whatever was serving in place, and says why in the index and the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnn_serve.service.engine.batching import Batcher
from rnn_serve.service.engine.runner import ModelRunner
from rnn_serve.service.errors import LoadRefused, ModelNotFound, ServeError
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import ServedModel, load_all
from rnn_serve.service.runtime.repository import Fingerprint, Listing, OnDisk, scan, version_key

log = logging.getLogger(__name__)

READY, UNAVAILABLE, LOADING = "READY", "UNAVAILABLE", "LOADING"


@dataclass(frozen=True, eq=False)
class Deployment:
    model: ServedModel
    runner: ModelRunner
    batcher: Batcher | None


@dataclass
class Entry:
    """A version's line in the repository index."""

    state: str
    reason: str = ""
    tried: Fingerprint | None = None  # the files last loaded or tried: unchanged, not retried


Load = Callable[[OnDisk], ServedModel]  # blocking: loads, checks and warms a version
Deploy = Callable[[ServedModel], Deployment]


class Models:
    def __init__(self, model_dir: Path, load: Load, deploy: Deploy, metrics: Metrics) -> None:
        self.model_dir = model_dir
        self._load, self._deploy, self._metrics = load, deploy, metrics
        # by name, each name's versions oldest first: the newest is the last
        self.served: dict[str, dict[str, Deployment]] = {}
        self.entries: dict[tuple[str, str], Entry] = {}
        self.unloaded: set[str] = set()  # unloaded by request: the poller leaves them be
        self._changing = asyncio.Lock()  # one change to the set at a time

    def open(self) -> None:
        """Every version on disk, loaded now; any fault stops start-up (ModelLoadError)."""
        for on_disk, model in load_all(self.model_dir, self._counted):
            self._serve(on_disk, model)

    # What requests see

    def get(self, name: str, version: str | None = None) -> Deployment:
        """The version asked for, or the newest ready one."""
        versions = self.served.get(name)
        if not versions:
            known = ", ".join(sorted(self.served)) or "none"
            why = self._why_not_served(name)
            raise ModelNotFound(f"unknown model {name!r}{why}; loaded models: {known}")
        if version is None:
            return next(reversed(versions.values()))
        if version not in versions:
            available = ", ".join(versions)
            why = self._why_not_served(name, version)
            raise ModelNotFound(
                f"model {name!r} has no version {version!r} ready{why}; ready: {available}"
            )
        return versions[version]

    def all(self) -> list[Deployment]:
        return [d for versions in self.served.values() for d in versions.values()]

    def newest(self) -> list[Deployment]:
        return [self.get(name) for name in sorted(self.served)]

    def versions(self, name: str) -> list[str]:
        return list(self.served.get(name, {}))

    def index(self) -> list[dict[str, Any]]:
        """Every model and version found or served, as the repository extension lists them."""
        return [
            {"name": name, "version": version, "state": entry.state, "reason": entry.reason}
            for (name, version), entry in sorted(
                self.entries.items(), key=lambda item: (item[0][0], version_key(item[0][1]))
            )
        ]

    # Changes

    async def refresh(self, only: str | None = None) -> dict[str, str]:
        """Loads what is new or changed on disk and unloads what is gone, for every model (the
        poller) or one; models unloaded by request are left alone. Returns what failed, by
        model (and version)."""
        async with self._changing:
            found = await asyncio.to_thread(scan, self.model_dir)
            failed: dict[str, str] = {}
            for on_disk in found.versions:
                if on_disk.name in self.unloaded or only not in (None, on_disk.name):
                    continue
                why = await self._update(on_disk)
                if why is not None:
                    failed[f"{on_disk.name} v{on_disk.version}"] = why
            self._refuse_models(found, only, failed)
            self._drop_missing(found, only)
            return failed

    async def load(self, name: str) -> None:
        """Loads a model's versions from disk again, even one unloaded by request; raises
        LoadRefused when none of them can serve."""
        self.unloaded.discard(name)
        failed = await self.refresh(only=name)
        if name not in self.served:
            why = "; ".join(f"{what}: {reason}" for what, reason in failed.items())
            raise LoadRefused(
                f"model {name!r} cannot be loaded: {why or 'it is not in the repository'}"
            )

    async def unload(self, name: str) -> None:
        """Stops serving every version of a model until it is loaded again."""
        async with self._changing:
            if name not in self.served and not any(n == name for n, _ in self.entries):
                raise ModelNotFound(f"unknown model {name!r}")
            self.unloaded.add(name)
            for version in list(self.served.get(name, {})):
                self._stop(name, version, "unloaded by request")

    # Inside

    async def _update(self, on_disk: OnDisk) -> str | None:
        key = (on_disk.name, on_disk.version)
        entry = self.entries.get(key)
        if entry is not None and entry.tried == on_disk.fingerprint:
            return None  # loaded, or already refused, from these very files
        serving = on_disk.version in self.served.get(on_disk.name, {})
        if not serving:
            self.entries[key] = Entry(LOADING, "", on_disk.fingerprint)
        try:
            model = await asyncio.to_thread(self._counted, on_disk)
        except ServeError as error:
            log.error("model %s v%s not loaded: %s", on_disk.name, on_disk.version, error.message)
            why = self._relative(error.message)  # the log has the path; answers do not
            if serving:  # the files loaded before keep serving
                why = f"reload failed, still serving the previous files: {why}"
            self.entries[key] = Entry(READY if serving else UNAVAILABLE, why, on_disk.fingerprint)
            return why
        self._serve(on_disk, model)
        return None

    def _counted(self, on_disk: OnDisk) -> ServedModel:
        try:
            model = self._load(on_disk)
        except ServeError:
            self._metrics.loads.labels(on_disk.name, "failed").inc()
            raise
        self._metrics.loads.labels(on_disk.name, "ok").inc()
        return model

    def _relative(self, message: str) -> str:
        """``message`` with the model directory's own path taken out: files are named as
        they are in the model directory, so that no answer tells where the server keeps it."""
        for root in {str(self.model_dir.resolve()), str(self.model_dir.absolute())}:
            message = message.replace(root + os.sep, "").replace(root, ".")
        return message

    def _serve(self, on_disk: OnDisk, model: ServedModel) -> None:
        self._metrics.known_models.add(on_disk.name)
        versions = self.served.get(on_disk.name, {}) | {on_disk.version: self._deploy(model)}
        self.served[on_disk.name] = dict(sorted(versions.items(), key=lambda v: version_key(v[0])))
        self.entries[on_disk.name, on_disk.version] = Entry(READY, "", on_disk.fingerprint)
        self._metrics.versions.labels(on_disk.name).set(len(self.served[on_disk.name]))

    def _stop(self, name: str, version: str, why: str) -> None:
        del self.served[name][version]
        if not self.served[name]:
            del self.served[name]
        self.entries[name, version] = Entry(UNAVAILABLE, why)
        self._metrics.versions.labels(name).set(len(self.served.get(name, {})))
        log.info("model %s v%s unloaded: %s", name, version, why)

    def _refuse_models(self, found: Listing, only: str | None, failed: dict[str, str]) -> None:
        """A model whose folder cannot be read (a bad config.json) keeps what it serves."""
        for name, why in found.refused.items():
            if only in (None, name) and name not in self.unloaded:
                log.error("model %s not loaded: %s", name, why)
                why = failed[name] = self._relative(why)
                for version in self.versions(name):
                    self.entries[name, version].reason = f"still serving; {why}"

    def _drop_missing(self, found: Listing, only: str | None) -> None:
        """Versions gone from disk, and those the version policy no longer chooses once every
        version it chooses serves (until then they keep serving: a newer version that fails
        to load leaves the one before it in place)."""
        chosen = {(v.name, v.version) for v in found.versions}
        for name, version in list(self.entries):
            if (name, version) in chosen or only not in (None, name):
                continue
            if name in self.unloaded or name in found.refused:
                continue
            on_disk = (name, version) in found.present
            if on_disk and not self._policy_served(name, chosen):
                continue
            why = "not chosen by the version policy" if on_disk else "removed from the repository"
            if version in self.served.get(name, {}):
                self._stop(name, version, why)
            else:
                self.entries[name, version] = Entry(UNAVAILABLE, why)

    def _policy_served(self, name: str, chosen: set[tuple[str, str]]) -> bool:
        return all(v in self.served.get(name, {}) for n, v in chosen if n == name)

    def _why_not_served(self, name: str, version: str | None = None) -> str:
        reasons = [
            f"v{v}: {entry.reason}"
            for (n, v), entry in self.entries.items()
            if n == name and version in (None, v) and entry.state != READY and entry.reason
        ]
        return f" ({'; '.join(reasons)})" if reasons else ""
