"""Structured logs: one JSON object per line, with the request id where there is one."""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
from typing import TextIO

import orjson

# Attributes every LogRecord has; anything else was passed in `extra` and is logged as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """JSON on stderr for our loggers and uvicorn's; uvicorn's own access log stays off."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class AccessLog:
    """The access log: a JSON line per request, with the fields JsonFormatter writes, to the
    logs' stream. A request only appends a tuple; a thread of its own formats and writes what
    has gathered every ``interval`` seconds, in one write. Through ``logging``, a LogRecord,
    its formatting and a write per request took a third of a small request's CPU time
    (docs/profile.md). ``close`` writes what is left; shown only while the
    ``rnn_serve.access`` logger is enabled for INFO."""

    logger = logging.getLogger("rnn_serve.access")

    def __init__(self, interval: float = 0.05, stream: TextIO | None = None) -> None:
        self.interval = interval
        self.stream = stream  # None: sys.stderr, where the handler configure() sets writes
        self.pending: list[tuple[float, str, str, str, str, str, int, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def request(
        self, request_id: str, method: str, path: str, route: str, model: str, status: int, s: float
    ) -> None:
        self.pending.append((time.time(), request_id, method, path, route, model, status, s))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        count = len(self.pending)
        if not count:
            return
        batch = self.pending[:count]
        del self.pending[:count]  # one step under the GIL: appends meanwhile stay
        second, start = -1, b""
        lines = []
        for at, request_id, method, path, route, model, status, seconds in batch:
            if int(at) != second:
                second = int(at)
                start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
            fields = _fields(method, path, route, model, status)
            us = int(seconds * 1e6 + 0.5)
            millisecond = int(at % 1 * 1000)
            lines.append(
                LINE % (start, millisecond, orjson.dumps(request_id), fields, us // 1000, us % 1000)
            )
        stream = self.stream or sys.stderr
        stream.write(b"\n".join([*lines, b""]).decode())
        stream.flush()


# An access log line, JsonFormatter's fields in its order: the request's own fields are written
# by orjson once for each kind of request (``_fields``); the id and the numbers each time.
LINE = (
    b'{"ts":"%s.%03dZ","level":"info","logger":"' + AccessLog.logger.name.encode() + b'",'
    b'"message":"request","request_id":%s,%s,"duration_ms":%d.%03d}'
)


@functools.lru_cache(maxsize=1024)
def _fields(method: str, path: str, route: str, model: str, status: int) -> bytes:
    fields = {"method": method, "path": path, "route": route, "model": model, "status": status}
    return orjson.dumps(fields)[1:-1]
