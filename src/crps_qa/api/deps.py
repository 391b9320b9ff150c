"""Dependencies shared by the routers. Tests replace them with ``app.dependency_overrides``.

def search(pipeline: PipelineDep): ...      # 503 with the fix when no index is loaded
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crps_qa.api.service import Service
from crps_qa.pipeline import Pipeline


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_pipeline(service: ServiceDep) -> Pipeline:
    return service.require()


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


def doc_ids(value: list[str] | str | None) -> tuple[str, ...]:
    """A ``doc_id`` field given as one id or a list → a tuple of ids."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
