"""What every operator decision carries: who made it; the journal entry it makes says when."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field


class OperatorDecision(BaseModel):
    """The base of every resolution an operator sends."""

    actor: str = Field(
        default="operator",
        max_length=100,
        description="who decided; the gateway sets it from the operator's token",
    )

    def by(self, actor: str) -> Self:
        """The same decision, recorded as made by `actor`."""
        return self.model_copy(update={"actor": actor})
