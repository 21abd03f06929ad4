"""Load a scenario file into the domain model (`suanli.model.Scenario`).

Steps: resolve the name -> parse YAML -> validate the schema -> check what spans the file
(unique ids, known accelerator types and sites, series long enough) -> build sites, the link
of every ordered site pair, tenants and cost parameters. Every failure is a `ScenarioError`
whose place names the file and the path inside it.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from suanli.core.queueing.quota import QueueingConfig, parse_queueing
from suanli.errors import ScenarioError
from suanli.model.accelerators import AcceleratorCatalog
from suanli.model.jobs import Tenant
from suanli.model.network import (
    CostParameters,
    CrossSiteGangs,
    Link,
    Pool,
    Scenario,
    Site,
    default_latency_ms,
)
from suanli.scenario._yaml import error, read_yaml, validate
from suanli.scenario.catalog import default_catalog
from suanli.scenario.schema import NetworkSpec, ScenarioFile, SiteSpec, Spec
from suanli.scenario.series import build_series, data_dir

#: Scenarios shipped in ``suanli/data/scenarios``, loadable by name.
BUILTIN_SCENARIOS: tuple[str, ...] = tuple(
    sorted(p.stem for p in (data_dir() / "scenarios").glob("*.yaml"))
)


def scenario_path(name_or_path: str | Path) -> Path:
    """The file behind a built-in scenario name or a path."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_SCENARIOS:
        return data_dir() / "scenarios" / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise ScenarioError(
        str(name_or_path),
        "no such scenario file or built-in scenario",
        f"built-in scenarios: {', '.join(BUILTIN_SCENARIOS)}",
    )


def load_scenario(
    name_or_path: str | Path, *, catalog: AcceleratorCatalog | None = None
) -> Scenario:
    """Load a built-in scenario by name (e.g. ``"china-edwc"``) or a scenario YAML file."""
    path = scenario_path(name_or_path)
    data, text = read_yaml(path)
    doc = validate(ScenarioFile, data, path, text)
    catalog = catalog if catalog is not None else default_catalog()
    builder = _Builder(path, text, doc.spec, catalog)
    sites, tenants = builder.sites(), builder.tenants()
    return Scenario(
        name=doc.metadata.name,
        start=doc.spec.start.astimezone(UTC),
        hours=doc.spec.hours,
        catalog=catalog,
        sites=sites,
        links=builder.links(),
        tenants=tenants,
        costs=CostParameters(
            carbon_price_yuan_per_t=doc.spec.costs.carbon_price_yuan_per_tonne,
            deadline_penalty_yuan_per_gpu_h=doc.spec.costs.deadline_penalty_yuan_per_gpu_hour,
            latency_yuan_per_gpu_h_ms=doc.spec.costs.latency_yuan_per_gpu_hour_ms,
        ),
        description=doc.metadata.description,
        queueing=builder.queueing(),
        cross_site=builder.cross_site(),
    )


class _Builder:
    """Checks that span the file, then the domain objects."""

    def __init__(self, path: Path, text: str, spec: Spec, catalog: AcceleratorCatalog) -> None:
        self.path, self.text, self.spec, self.catalog = path, text, spec, catalog
        self._sites: dict[str, Site] = {}

    def fail(self, loc: list[int | str], problem: str, hint: str | None = None) -> ScenarioError:
        return error(self.path, self.text, loc, problem, hint)

    def _known_type(self, name: str, loc: list[int | str]) -> None:
        if name not in set(self.catalog):  # Mapping `in` would raise
            raise self.fail(
                loc,
                f"unknown accelerator type {name!r}",
                f"known types: {', '.join(sorted(self.catalog))}",
            )

    def sites(self) -> dict[str, Site]:
        for i, s in enumerate(self.spec.sites):
            if s.id in self._sites:
                raise self.fail(["spec", "sites", i, "id"], f"duplicate site id {s.id!r}")
            self._sites[s.id] = self._site(i, s)
        return self._sites

    def _site(self, i: int, s: SiteSpec) -> Site:
        loc: list[int | str] = ["spec", "sites", i]
        for j, p in enumerate(s.pools):
            self._known_type(p.accelerator, [*loc, "pools", j, "accelerator"])
        series = {}
        for field in ("price", "carbon"):
            spec = getattr(s, field)
            try:
                series[field] = build_series(
                    spec, self.spec.start, self.spec.hours, self.path.parent
                )
            except ValueError as e:
                raise self.fail([*loc, field], str(e)) from None
            if field == "carbon" and (series[field] < 0).any():
                worst = float(series[field].min())
                raise self.fail([*loc, field], f"must be >= 0 every hour, got {worst:g}")
        notes = s.notes
        for field in ("price", "carbon"):
            basis = getattr(s, field).basis
            if basis:
                notes += f" | {field}: {basis}"
        return Site(
            id=s.id,
            name=s.name,
            hub=s.hub,
            operator=s.operator,
            jurisdiction=s.jurisdiction,
            region=s.region,
            province=s.province,
            lat=s.lat,
            lon=s.lon,
            pue=s.pue,
            power_cap_mw=s.power_cap_mw,
            price=series["price"],
            carbon=series["carbon"],
            pools=tuple(
                Pool(p.accelerator, p.nodes, p.per_node, p.cpu_per_node, p.memory_gb_per_node)
                for p in s.pools
            ),
            notes=notes.strip(" |"),
        )

    def links(self) -> dict[tuple[str, str], Link]:
        """A link for every ordered pair of sites, then the overrides."""
        net: NetworkSpec = self.spec.network
        links: dict[tuple[str, str], Link] = {}
        for a in self._sites.values():
            for b in self._sites.values():
                if a.id == b.id:
                    cls = net.same_site
                elif a.jurisdiction == b.jurisdiction:
                    cls = net.domestic
                else:
                    cls = net.international
                links[(a.id, b.id)] = Link(
                    a.id, b.id, default_latency_ms(a, b), cls.bandwidth_gbps, cls.price_yuan_per_gb
                )
        for k, o in enumerate(net.overrides):
            for end in ("src", "dst"):
                if getattr(o, end) not in self._sites:
                    raise self.fail(
                        ["spec", "network", "overrides", k, end],
                        f"link to unknown site {getattr(o, end)!r}",
                        f"known sites: {', '.join(self._sites)}",
                    )
            pairs = [(o.src, o.dst), (o.dst, o.src)] if o.both_ways else [(o.src, o.dst)]
            for pair in pairs:
                old = links[pair]
                links[pair] = Link(
                    old.src,
                    old.dst,
                    old.latency_ms if o.latency_ms is None else o.latency_ms,
                    old.bandwidth_gbps if o.bandwidth_gbps is None else o.bandwidth_gbps,
                    old.price_yuan_per_gb if o.price_yuan_per_gb is None else o.price_yuan_per_gb,
                )
        return links

    def cross_site(self) -> dict[str, CrossSiteGangs]:
        """``network.crossSiteGangs``: each a hub of two or more sites of one jurisdiction."""
        out: dict[str, CrossSiteGangs] = {}
        hubs: dict[str, list[Site]] = {}
        for site in self._sites.values():
            hubs.setdefault(site.hub, []).append(site)
        for k, g in enumerate(self.spec.network.cross_site_gangs):
            loc: list[int | str] = ["spec", "network", "crossSiteGangs", k]
            sites = hubs.get(g.hub)
            if sites is None:
                raise self.fail(
                    [*loc, "hub"], f"unknown hub {g.hub!r}", f"hubs: {', '.join(sorted(hubs))}"
                )
            if g.hub in out:
                raise self.fail([*loc, "hub"], f"hub {g.hub!r} is listed twice")
            if len(sites) < 2:
                raise self.fail(
                    [*loc, "hub"],
                    f"hub {g.hub!r} has one site ({sites[0].id}): a gang cannot span sites there",
                )
            borders = sorted({s.jurisdiction for s in sites})
            if len(borders) > 1:
                raise self.fail(
                    [*loc, "hub"],
                    f"hub {g.hub!r} spans jurisdictions {', '.join(borders)}",
                    "a cross-site gang stays in one jurisdiction; list a domestic hub",
                )
            out[g.hub] = CrossSiteGangs(
                g.hub, tuple(s.id for s in sites), g.bandwidth_gbps, g.slowdown, g.basis
            )
        return out

    def tenants(self) -> dict[str, Tenant]:
        tenants: dict[str, Tenant] = {}
        for i, t in enumerate(self.spec.tenants):
            if t.id in tenants:
                raise self.fail(["spec", "tenants", i, "id"], f"duplicate tenant id {t.id!r}")
            for name in t.quota:
                self._known_type(name, ["spec", "tenants", i, "quota", name])
            tenants[t.id] = Tenant(t.id, t.name, t.sector, t.jurisdiction, t.weight, dict(t.quota))
        return tenants

    def queueing(self) -> QueueingConfig | None:
        """The ``queueing:`` section; a quota may name only flavors the sites have."""
        raw = self.spec.queueing
        if raw is None:
            return None
        flavors = {p.accelerator for s in self._sites.values() for p in s.pools}
        pools = [(s.id, s.hub, p.accelerator) for s in self._sites.values() for p in s.pools]
        tenants = [t.id for t in self.spec.tenants]
        where = f"{self.path.name}: spec.queueing"
        return parse_queueing(raw, flavors, tenants, where, pools)
