"""Ray Serve's own floor for bench/ray_serve.py: one FastAPI route that answers a constant, as a
Ray Serve deployment, so that the hop's price is seen apart from the service's work."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve

floor = FastAPI()


@floor.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0})
@serve.ingress(floor)
class Floor:
    pass


app = Floor.bind()
