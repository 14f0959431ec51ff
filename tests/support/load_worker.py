"""A load generator run as its own process by the shutdown test: `python load_worker.py URL
SECONDS THREADS`. Each thread posts on fresh connections with its own X-Request-ID and prints
one JSON line per request: id, outcome (status or error class), and when it finished."""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx

BODY = {"inputs": [[[0.1]] * 200] * 4}


def worker(url: str, deadline: float, thread: int, lock: threading.Lock) -> None:
    count = 0
    while time.time() < deadline:
        request_id = f"load-{thread}-{count}"
        count += 1
        try:
            with httpx.Client(timeout=60) as client:  # a fresh connection per request
                response = client.post(url, json=BODY, headers={"X-Request-ID": request_id})
            outcome = str(response.status_code)
        except httpx.HTTPError as error:
            outcome = type(error).__name__
            time.sleep(0.01)
        with lock:
            print(json.dumps({"id": request_id, "outcome": outcome, "at": time.time()}), flush=True)


def main() -> None:
    url, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    deadline, lock = time.time() + seconds, threading.Lock()
    workers = [
        threading.Thread(target=worker, args=(url, deadline, n, lock)) for n in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


if __name__ == "__main__":
    main()
