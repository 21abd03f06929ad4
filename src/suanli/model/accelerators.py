"""Accelerator types and the catalog that names them.

Every figure carries its basis: ``sourced`` (with the source) or ``estimated``. Throughput is
relative to the reference accelerator (NVIDIA A100 = 1.0); a job's duration is declared at the
reference, so a job runs ``duration / throughput`` hours on another type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from suanli.errors import UnknownNameError

Basis = Literal["sourced", "estimated"]


@dataclass(frozen=True, slots=True)
class Figure:
    """A number about the world with its provenance."""

    value: float
    basis: Basis
    source: str = ""

    def __str__(self) -> str:
        tag = "src" if self.basis == "sourced" else "est"
        return f"{self.value:g} ({tag})"


@dataclass(frozen=True, slots=True)
class AcceleratorType:
    """One accelerator model.

    ``power_kw`` is the board power (TDP) of one accelerator; ``train`` and ``infer`` are
    throughputs relative to the reference accelerator for training and inference work.
    """

    name: str
    vendor: str
    domestic: bool
    memory_gb: Figure
    power_kw: Figure
    train: Figure
    infer: Figure

    def throughput(self, inference: bool) -> float:
        """Relative speed for a job of that kind (reference accelerator = 1.0)."""
        return self.infer.value if inference else self.train.value


class AcceleratorCatalog(Mapping[str, AcceleratorType]):
    """A read-only mapping from type name to `AcceleratorType`, with clear lookup errors."""

    def __init__(self, types: Mapping[str, AcceleratorType], reference: str) -> None:
        self._types = dict(types)
        if reference not in self._types:
            raise UnknownNameError(
                "accelerator catalog", f"reference type {reference!r} is not in it"
            )
        self.reference = reference

    def __getitem__(self, name: str) -> AcceleratorType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise UnknownNameError(
                "accelerator type", f"unknown type {name!r}", f"known types: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)
