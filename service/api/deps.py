"""Dependencies the endpoints declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.dataplane import DataPlane


async def get_dataplane(request: Request) -> DataPlane:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop that
    # cost more than the inference on small requests.
    dataplane: DataPlane = request.app.state.dataplane
    return dataplane


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]
