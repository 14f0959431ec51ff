"""Dependencies the endpoints declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.dataplane import DataPlane


def get_dataplane(request: Request) -> DataPlane:
    dataplane: DataPlane = request.app.state.dataplane
    return dataplane


DataPlaneDep = Annotated[DataPlane, Depends(get_dataplane)]
