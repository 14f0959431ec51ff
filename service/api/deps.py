"""Dependencies the endpoints declare."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from service.dataplane import DataPlane
from service.errors import NotReady


async def get_dataplane(request: Request) -> DataPlane:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop that
    # cost more than the inference on small requests.
    return dataplane_of(request.app)


def dataplane_of(app: Any) -> DataPlane:
    dataplane: DataPlane | None = getattr(app.state, "dataplane", None)
    if dataplane is None:
        raise NotReady("the service is starting: models are not loaded yet")
    return dataplane


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]
