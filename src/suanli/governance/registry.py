"""The registry of generative-AI models filed with the CAC (Interim Measures for Generative
AI Services, 2023): a public service must show its model's name and filing number."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FiledModel:
    id: str
    filing_number: str
    #: the model it was fine-tuned from (None: a base model)
    base_model: str | None = None
    provider: str = ""

    @property
    def filed(self) -> bool:
        return bool(self.filing_number)


class ModelRegistry:
    """Models by id; a model listed without a filing number is known but not filed."""

    def __init__(self, models: Iterable[FiledModel] = ()) -> None:
        self._models = {m.id: m for m in models}

    def get(self, model_id: str) -> FiledModel | None:
        return self._models.get(model_id)

    def filing_problem(self, model_id: str) -> str | None:
        """Why ``model_id`` may not serve the public (None: it is filed)."""
        m = self._models.get(model_id)
        if m is not None and m.filed:
            return None
        base = self._models.get(m.base_model) if m is not None and m.base_model else None
        if base is not None and base.filed:
            return (
                f"model {model_id!r} is fine-tuned from {base.id!r} (filing {base.filing_number}) "
                "but has no filing of its own"
            )
        if m is not None:
            return f"model {model_id!r} is registered but not filed"
        return f"model {model_id!r} is not filed"

    def __len__(self) -> int:
        return len(self._models)
