"""The accelerator catalog shipped with the package (``suanli/data/accelerators.yaml``)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field

from suanli.model.accelerators import AcceleratorCatalog, AcceleratorType, Figure
from suanli.scenario._yaml import error, read_yaml, validate
from suanli.scenario.schema import Strict
from suanli.scenario.series import data_dir


class FigureSpec(Strict):
    value: float = Field(ge=0)
    basis: Literal["sourced", "estimated"]
    source: str = Field(min_length=1)

    def figure(self) -> Figure:
        return Figure(self.value, self.basis, self.source)


class TypeSpec(Strict):
    vendor: str
    domestic: bool
    memory_gb: FigureSpec
    power_kw: FigureSpec
    train: FigureSpec
    infer: FigureSpec


class CatalogFile(Strict):
    reference: str
    types: dict[str, TypeSpec] = Field(min_length=1)


def load_catalog(path: Path) -> AcceleratorCatalog:
    """Read and check a catalog file; errors are `ScenarioError`s naming file and path."""
    data, text = read_yaml(path)
    spec = validate(CatalogFile, data, path, text)
    if spec.reference not in spec.types:
        raise error(
            path, text, ["reference"], f"reference type {spec.reference!r} is not in `types`"
        )
    types = {
        name: AcceleratorType(
            name=name,
            vendor=t.vendor,
            domestic=t.domestic,
            memory_gb=t.memory_gb.figure(),
            power_kw=t.power_kw.figure(),
            train=t.train.figure(),
            infer=t.infer.figure(),
        )
        for name, t in spec.types.items()
    }
    return AcceleratorCatalog(types, reference=spec.reference)


@functools.cache
def default_catalog() -> AcceleratorCatalog:
    """The catalog in ``suanli/data/accelerators.yaml`` (reference type ``A100``)."""
    return load_catalog(data_dir() / "accelerators.yaml")
