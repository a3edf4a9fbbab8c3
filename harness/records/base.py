"""The base of every record model, and the number type the files keep as written."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

Number = int | float
R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """A part of a record file: unknown keys are kept, and only the keys set are written."""

    model_config = ConfigDict(extra="allow")

    def dump(self) -> dict[str, Any]:
        """The JSON object as the runner writes it (python values; ``json.dumps`` does the rest)."""
        return self.model_dump(mode="python", exclude_unset=True)
