"""The scenario file schema (``apiVersion: suanli/v1``, ``kind: Scenario``), as pydantic models.

Keys are camelCase in YAML and snake_case here; unknown keys are errors. These models check
each value on its own (ranges, required fields); `suanli.scenario.load` checks what needs the
whole file (series lengths, known accelerator types, unique ids, links between known sites)
and builds the domain model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from suanli.model.jobs import Sector


class Strict(BaseModel):
    """Base: camelCase aliases, unknown fields forbidden, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


# ---------------------------------------------------------------- series


class TimeOfUse(Strict):
    """A daily time-of-use tariff in local time: ``base`` x ``peak``/``flat``/``valley``.

    Hours listed in neither ``peak_hours`` nor ``valley_hours`` are flat.
    """

    base: float = Field(gt=0)
    peak: float = Field(default=1.6, gt=0)
    flat: float = Field(default=1.0, gt=0)
    valley: float = Field(default=0.47, gt=0)
    peak_hours: list[int] = Field(default_factory=list)
    valley_hours: list[int] = Field(default_factory=list)
    utc_offset: float = Field(default=8.0, ge=-12, le=14)

    @field_validator("peak_hours", "valley_hours")
    @classmethod
    def _hours_of_day(cls, hours: list[int]) -> list[int]:
        bad = [h for h in hours if not 0 <= h <= 23]
        if bad:
            raise ValueError(f"hours of day must be 0..23, got {bad}")
        return hours

    @model_validator(mode="after")
    def _disjoint(self) -> TimeOfUse:
        both = sorted(set(self.peak_hours) & set(self.valley_hours))
        if both:
            raise ValueError(f"hours {both} are both peak and valley")
        return self


class ModelledAroundMean(Strict):
    """A modelled daily profile whose mean is exactly ``mean`` (e.g. an annual emission factor).

    ``solar``: lowest around local noon; ``wind``: lowest at night; ``flat``: constant.
    ``amplitude`` is the fractional swing before renormalising to the mean.
    """

    mean: float = Field(ge=0)
    profile: Literal["solar", "wind", "flat"] = "flat"
    amplitude: float = Field(default=0.1, ge=0, lt=1)
    utc_offset: float = Field(default=8.0, ge=-12, le=14)


class SeriesSpec(Strict):
    """One hourly series: exactly one of ``time_of_use``, ``modelled_around_mean``, ``file``
    or ``values`` (a plain YAML list is read as ``values``)."""

    time_of_use: TimeOfUse | None = None
    modelled_around_mean: ModelledAroundMean | None = None
    file: str | None = None
    column: str | None = None
    scale: float = 1.0
    values: list[float] | None = None
    #: what the numbers are: "SRC ...", "PROXY ...", "EST ...", "modelled ..."
    basis: str = ""

    @model_validator(mode="before")
    @classmethod
    def _plain_list(cls, data: Any) -> Any:
        return {"values": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> SeriesSpec:
        given = [
            name
            for name, v in (
                ("timeOfUse", self.time_of_use),
                ("modelledAroundMean", self.modelled_around_mean),
                ("file", self.file),
                ("values", self.values),
            )
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of timeOfUse, modelledAroundMean, file or a list of values, "
                f"got {given or 'none'}"
            )
        if self.file is not None and not self.column:
            raise ValueError("a file series needs `column`")
        return self


# ---------------------------------------------------------------- sites and network


class PoolSpec(Strict):
    accelerator: str
    nodes: int = Field(ge=1)
    per_node: int = Field(ge=1, le=64)
    cpu_per_node: int = Field(default=96, ge=1)
    memory_gb_per_node: int = Field(default=1024, ge=1)


class SiteSpec(Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    hub: str
    operator: str
    jurisdiction: str = Field(min_length=2)
    region: str
    #: province or state (rules such as "healthcare data stays in its province" read it)
    province: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    pue: float = Field(ge=1.0, le=3.0)
    power_cap_mw: float = Field(gt=0)
    price: SeriesSpec
    carbon: SeriesSpec
    pools: list[PoolSpec] = Field(min_length=1)
    notes: str = ""


class LinkClass(Strict):
    """Default bandwidth and transfer price for one class of site pairs."""

    bandwidth_gbps: float = Field(gt=0)
    price_yuan_per_gb: float = Field(ge=0)


class LinkOverride(Strict):
    src: str
    dst: str
    latency_ms: float | None = Field(default=None, ge=0)
    bandwidth_gbps: float | None = Field(default=None, gt=0)
    price_yuan_per_gb: float | None = Field(default=None, ge=0)
    #: apply to dst -> src as well
    both_ways: bool = True


class CrossSiteGangSpec(Strict):
    """A hub whose sites may run one synchronous training gang together (docs/scenario.md)."""

    hub: str = Field(min_length=1)
    #: the inter-site link the gang synchronises over (Gbit/s)
    bandwidth_gbps: float = Field(gt=0)
    #: run-time factor of a gang split across the hub's sites (an estimate: say so in basis)
    slowdown: float = Field(ge=1.0)
    #: where the figures come from ("EST ..."): required, the slowdown is never a fact
    basis: str = Field(min_length=1)


class NetworkSpec(Strict):
    same_site: LinkClass = LinkClass(bandwidth_gbps=400.0, price_yuan_per_gb=0.0)
    domestic: LinkClass = LinkClass(bandwidth_gbps=100.0, price_yuan_per_gb=0.14)
    international: LinkClass = LinkClass(bandwidth_gbps=10.0, price_yuan_per_gb=0.57)
    overrides: list[LinkOverride] = Field(default_factory=list)
    #: hubs whose sites may run one gang together (none by default)
    cross_site_gangs: list[CrossSiteGangSpec] = Field(default_factory=list)
    notes: str = ""


class CostSpec(Strict):
    carbon_price_yuan_per_tonne: float = Field(default=1345.0, ge=0)
    deadline_penalty_yuan_per_gpu_hour: float = Field(default=20.0, ge=0)
    latency_yuan_per_gpu_hour_ms: float = Field(default=0.02, ge=0)
    notes: str = ""


class TenantSpec(Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    sector: Sector
    jurisdiction: str = Field(min_length=2)
    weight: float = Field(default=1.0, gt=0)
    quota: dict[str, int] = Field(default_factory=dict)

    @field_validator("quota")
    @classmethod
    def _non_negative(cls, quota: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in quota.items() if v < 0}
        if bad:
            raise ValueError(f"quotas must be >= 0, got {bad}")
        return quota


class Spec(Strict):
    start: AwareDatetime
    hours: int = Field(ge=1, le=24 * 366)
    costs: CostSpec = CostSpec()
    network: NetworkSpec = NetworkSpec()
    sites: list[SiteSpec] = Field(min_length=1)
    tenants: list[TenantSpec] = Field(min_length=1)
    #: queues, quotas per flavor and cohorts (docs/queueing.md); checked by
    #: `suanli.core.queueing.parse_queueing` once the sites and tenants are known
    queueing: dict[str, Any] | None = None

    @field_validator("start")
    @classmethod
    def _on_the_hour(cls, start: datetime) -> datetime:
        if start.minute or start.second or start.microsecond:
            raise ValueError(f"must be on a whole hour, got {start.isoformat()}")
        return start


class Metadata(Strict):
    name: str = Field(min_length=1)
    description: str = ""


class ScenarioFile(Strict):
    """The whole file."""

    api_version: Literal["suanli/v1"]
    kind: Literal["Scenario"]
    metadata: Metadata
    spec: Spec
