"""GET /health: is the service up, and which provider and model answer."""

from __future__ import annotations

from fastapi import APIRouter

from excel_glm.server.deps import State
from excel_glm.server.schemas import HealthBody

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service status (no token needed)")
async def health(state: State) -> HealthBody:
    """The service answers; says which provider and model it uses."""
    # The provider's own model name: for the embedded model it is not settings.model.
    provider = getattr(state.engine, "provider", None)
    model = getattr(provider, "model", None) or state.settings.model
    return HealthBody(provider=state.settings.provider_name, model=str(model))
