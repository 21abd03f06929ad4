"""A seeded synthetic workload for a scenario, drawn from real trace statistics.

Every draw is vectorised over all jobs (one numpy Generator, seeded), so a week on the default
scenario (about 62,000 jobs) takes well under a second or two. docs/workload.md states which
statistic each draw uses; the estimates (kind mix, slack, data sizes, classes) are marked there.

Steps:
1. number of jobs N = load x accelerators x hours / E[reference GPU-hours per job], the
   expectation taken exactly over the tenant weights, kind mix, size and duration tables;
2. per job: tenant (by weight) -> kind (by sector) -> arrival hour (diurnal, tenant's local
   time) -> size (doubling ladder fitted to a trace mean) -> duration (resampled trace lengths);
3. data: home site (tenant's jurisdiction, east-heavy), class (by sector), size (by kind);
4. acceptable types: a type group by kind, widened (and the size cut) until some site that
   may process the data holds a pool large enough;
5. deadlines, latency SLOs, priorities; jobs sorted by arrival and numbered j000001, ...
6. governance facts (`_governance_facts`, from a second seeded stream so steps 1-5 are the
   same with or without them): people counts of personal data, the model and audience of
   online inference, and some partner services on data homed in China.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from suanli.errors import WorkloadError
from suanli.model.jobs import RESTRICTED_CLASSES, Classification, DataAsset, Job, JobKind, Sector
from suanli.model.network import FloatArray, Scenario
from suanli.workload import traces

IntArray = npt.NDArray[np.int64]

KINDS = (JobKind.TRAIN, JobKind.FINETUNE, JobKind.BATCH_INFERENCE, JobKind.ONLINE_INFERENCE)
CLASSES = tuple(Classification)  # public, general, personal, important, core

#: share of each kind in a tenant's jobs, by sector (EST), order of KINDS
KIND_MIX: dict[Sector, tuple[float, float, float, float]] = {
    Sector.FINANCE: (0.02, 0.13, 0.25, 0.60),
    Sector.HEALTHCARE: (0.03, 0.17, 0.30, 0.50),
    Sector.MANUFACTURING: (0.03, 0.12, 0.30, 0.55),
    Sector.PUBLIC_SERVICES: (0.02, 0.08, 0.30, 0.60),
    Sector.RESEARCH_EDUCATION: (0.15, 0.35, 0.25, 0.25),
    Sector.INTERNATIONAL_PARTNER: (0.08, 0.27, 0.30, 0.35),
}

#: data classes by sector (EST), order of CLASSES
CLASS_MIX: dict[Sector, tuple[float, float, float, float, float]] = {
    Sector.FINANCE: (0.0, 0.20, 0.45, 0.35, 0.0),
    Sector.HEALTHCARE: (0.0, 0.20, 0.55, 0.25, 0.0),
    Sector.MANUFACTURING: (0.10, 0.50, 0.10, 0.30, 0.0),
    Sector.PUBLIC_SERVICES: (0.10, 0.35, 0.25, 0.20, 0.10),
    Sector.RESEARCH_EDUCATION: (0.50, 0.40, 0.10, 0.0, 0.0),
    Sector.INTERNATIONAL_PARTNER: (0.50, 0.50, 0.0, 0.0, 0.0),
}

_TRAIN_TYPES = ("H800", "H100", "A800", "A100", "H20", "Ascend910B")
_INFER_TYPES = (
    "L40S", "A100", "A800", "H20", "T4", "V100", "H100", "H800",
    "Ascend910B", "HygonDCU", "CambriconMLU",
)  # fmt: skip
#: acceptable type groups by kind with their probabilities (EST); the last is the widest
TYPE_GROUPS: dict[JobKind, tuple[tuple[tuple[str, ...], float], ...]] = {
    JobKind.TRAIN: (
        (("H800", "H100", "A800", "A100"), 0.45),
        (("H800", "H100"), 0.15),
        (("Ascend910B",), 0.15),
        (_TRAIN_TYPES, 0.25),
    ),
    JobKind.FINETUNE: (
        (("A800", "A100", "H800", "H100", "H20"), 0.45),
        (("A100", "A800", "L40S"), 0.20),
        (("Ascend910B", "HygonDCU"), 0.10),
        ((*_TRAIN_TYPES, "L40S", "HygonDCU"), 0.25),
    ),
    JobKind.BATCH_INFERENCE: (
        (("L40S", "A100", "A800", "H20"), 0.35),
        (("T4", "L40S"), 0.20),
        (("Ascend910B", "HygonDCU", "CambriconMLU"), 0.15),
        (_INFER_TYPES, 0.30),
    ),
    JobKind.ONLINE_INFERENCE: (
        (("L40S", "A100", "H20"), 0.35),
        (("T4", "L40S"), 0.25),
        (("HygonDCU", "CambriconMLU", "Ascend910B"), 0.15),
        (_INFER_TYPES, 0.25),
    ),
}

#: accelerators per job: a doubling ladder (smallest, largest) fitted to the mean GPU count of
#: a cluster in cluster_summary.csv (avg_gpu_num)
SIZE_LADDERS: dict[JobKind, tuple[float, float, str]] = {
    JobKind.TRAIN: (16.0, 128.0, "Kalos"),
    JobKind.FINETUNE: (1.0, 16.0, "Seren"),
    JobKind.BATCH_INFERENCE: (0.5, 8.0, "Philly"),
    JobKind.ONLINE_INFERENCE: (0.25, 4.0, "PAI"),
}

#: data size in GB: lognormal (median, sigma) by kind (EST)
DATA_SIZE: dict[JobKind, tuple[float, float]] = {
    JobKind.TRAIN: (2000.0, 1.0),
    JobKind.FINETUNE: (200.0, 1.0),
    JobKind.BATCH_INFERENCE: (100.0, 1.2),
    JobKind.ONLINE_INFERENCE: (2.0, 0.8),
}

#: diurnal arrival shape 1 + a cos(2 pi (h - 15) / 24) in the tenant's local time, and the
#: weekend factor, by kind (EST)
DIURNAL: dict[JobKind, tuple[float, float]] = {
    JobKind.TRAIN: (0.3, 0.6),
    JobKind.FINETUNE: (0.4, 0.6),
    JobKind.BATCH_INFERENCE: (0.4, 0.7),
    JobKind.ONLINE_INFERENCE: (0.6, 0.85),
}
PEAK_LOCAL_HOUR = 15.0
#: summer (June) UTC offsets by jurisdiction; others default to Beijing time
UTC_OFFSET = {"CN": 8.0, "SG": 8.0, "KR": 9.0, "JP": 9.0, "DE": 2.0, "GB": 1.0, "BR": -3.0}
PRIORITY = {
    JobKind.TRAIN: 0,
    JobKind.FINETUNE: 1,
    JobKind.BATCH_INFERENCE: 1,
    JobKind.ONLINE_INFERENCE: 2,
}

#: offered reference GPU-hours as a share of the network's accelerator-hours (EST). About a
#: third: enough that the hot east sites and the cheap green pools saturate while the network
#: as a whole has room (the national clusters' rack occupancy was 62.7% in March 2024, but
#: racks are not busy accelerators), and a week stays above 50,000 jobs.
DEFAULT_LOAD = 0.32


@dataclass(frozen=True)
class _Tables:
    """Per-scenario lookup tables the draws index into."""

    tenant_ids: tuple[str, ...]
    tenant_p: FloatArray
    kind_cum: FloatArray  # tenant x kind, cumulative
    class_cum: FloatArray  # tenant x class, cumulative
    home_cum: FloatArray  # tenant x site, cumulative (data sites)
    users_cum: FloatArray  # tenant x site, cumulative (users of online inference)
    offsets: FloatArray  # tenant -> UTC offset (hours)


def _cum(rows: list[list[float]]) -> FloatArray:
    m = np.asarray(rows, dtype=np.float64)
    m = m / m.sum(axis=1, keepdims=True)
    c = np.cumsum(m, axis=1)
    c[:, -1] = 1.0
    return c


def _pick(cum: FloatArray, rows: IntArray, rng: np.random.Generator) -> IntArray:
    """For each row index, a column drawn from that row's cumulative distribution."""
    u = rng.random(len(rows))
    return np.asarray((u[:, None] >= cum[rows]).sum(axis=1), dtype=np.int64)


def _tables(scenario: Scenario) -> _Tables:
    sites = list(scenario.sites.values())
    tenants = list(scenario.tenants.values())
    home, users = [], []
    for t in tenants:
        own = [s.jurisdiction == t.jurisdiction for s in sites]
        if not any(own):
            own = [True] * len(sites)
        home.append(
            [(3.0 if s.region != "west" else 1.0) * o for s, o in zip(sites, own, strict=True)]
        )
        near = [o and s.region != "west" for s, o in zip(sites, own, strict=True)]
        users.append([1.0 if n else 0.0 for n in (near if any(near) else own)])
    return _Tables(
        tenant_ids=tuple(t.id for t in tenants),
        tenant_p=np.asarray([t.weight for t in tenants]) / sum(t.weight for t in tenants),
        kind_cum=_cum([list(KIND_MIX[t.sector]) for t in tenants]),
        class_cum=_cum([list(CLASS_MIX[t.sector]) for t in tenants]),
        home_cum=_cum(home),
        users_cum=_cum(users),
        offsets=np.asarray([UTC_OFFSET.get(t.jurisdiction, 8.0) for t in tenants]),
    )


def _durations(kind: JobKind) -> FloatArray:
    if kind is JobKind.TRAIN:
        return traces.philly_runtimes_h(1.0)
    if kind is JobKind.FINETUNE:
        return traces.philly_runtimes_h()
    return traces.pai_lengths_h()


def _sizes(kind: JobKind) -> tuple[FloatArray, FloatArray]:
    lo, hi, cluster = SIZE_LADDERS[kind]
    return traces.doubling_sizes(lo, hi, traces.cluster_summary()[cluster]["avg_gpu_num"])


def expected_gpu_hours_per_job(scenario: Scenario) -> float:
    """E[accelerators x duration] per job (sizes and durations are drawn independently)."""
    t = _tables(scenario)
    kind_p = np.diff(t.kind_cum, axis=1, prepend=0.0)
    share = t.tenant_p @ kind_p  # probability of each kind
    per_kind = []
    for k in KINDS:
        sizes, p = _sizes(k)
        per_kind.append(float((sizes * p).sum()) * float(_durations(k).mean()))
    return float(share @ np.asarray(per_kind))


def generate_workload(
    scenario: Scenario, *, seed: int = 7, days: float = 7.0, load: float = DEFAULT_LOAD
) -> list[Job]:
    """Jobs arriving over ``days`` from the scenario's start whose reference GPU-hours are, in
    expectation, ``load`` x the network's accelerator-hours over those days. Deterministic in
    ``seed``."""
    horizon = days * 24.0
    if not 0 < horizon <= scenario.hours:
        raise WorkloadError(
            "generate_workload", f"days must be > 0 and fit the scenario's {scenario.hours} h"
        )
    if not 0 < load <= 1.5:
        raise WorkloadError("load", f"must be in (0, 1.5], got {load:g}")
    rng = np.random.default_rng(seed)
    t = _tables(scenario)
    n = round(load * scenario.accelerators * horizon / expected_gpu_hours_per_job(scenario))

    tenant = rng.choice(len(t.tenant_ids), size=n, p=t.tenant_p)
    kind = _pick(t.kind_cum, tenant, rng)
    arrival = _arrivals(rng, kind, t.offsets[tenant], scenario, horizon)
    accel = np.empty(n)
    duration = np.empty(n)
    for k, job_kind in enumerate(KINDS):
        mine = kind == k
        sizes, p = _sizes(job_kind)
        accel[mine] = rng.choice(sizes, size=int(mine.sum()), p=p)
        duration[mine] = rng.choice(_durations(job_kind), size=int(mine.sum()))

    online = kind == KINDS.index(JobKind.ONLINE_INFERENCE)
    home = _pick(t.home_cum, tenant, rng)
    home[online] = _pick(t.users_cum, tenant[online], rng)
    klass = _pick(t.class_cum, tenant, rng)
    median = np.asarray([DATA_SIZE[k][0] for k in KINDS])[kind]
    sigma = np.asarray([DATA_SIZE[k][1] for k in KINDS])[kind]
    data_gb = np.round(median * np.exp(sigma * rng.standard_normal(n)), 3).clip(0.01)

    groups, group, accel = _acceptable_types(rng, scenario, kind, home, klass, accel)
    slack = _deadlines(rng, kind, duration)
    slo = np.where(online, rng.integers(10, 41, size=n), 0)
    facts = _governance_facts(np.random.default_rng([seed, 5]), scenario, t, tenant, kind,
                              home, klass)  # fmt: skip
    return _assemble(scenario, t, tenant, kind, accel, groups, group, duration, arrival, slack,
                     home, klass, data_gb, slo, facts)  # fmt: skip


#: models online inference runs, with their probabilities (EST); registered and filed in the
#: default policy set except fin-assistant-ft (registered, not filed: a fine-tune needs its own
#: filing) and edu-chat-13b (not registered)
MODELS: tuple[tuple[str | None, float], ...] = (
    ("base-llm-70b", 0.50),
    ("vision-gen-xl", 0.20),
    ("gov-assistant", 0.15),
    ("fin-assistant-ft", 0.02),
    ("edu-chat-13b", 0.01),
    (None, 0.12),
)
#: share of online inference with a named model that is public-facing, and share of jobs that
#: generate content (EST)
PUBLIC_FACING = 0.4
GENERATIVE = 0.9
#: people in personal data: lognormal (median, sigma) (EST): ~14% reach the 100k contract
#: threshold, ~0.5% the 1M assessment threshold
PEOPLE = (20_000.0, 1.5)
#: share of finance and healthcare personal data that is also sensitive, and its people (EST):
#: ~6% of those reach 10k sensitive people
SENSITIVE_SHARE = 0.4
SENSITIVE_PEOPLE = (1_500.0, 1.2)
#: share of partners' online inference that serves their users from data homed in China; of
#: those, the share above the 1M assessment threshold (EST)
PARTNER_ON_CN_DATA = 0.2
PARTNER_ASSESSMENT = 0.1


@dataclass(frozen=True)
class _Facts:
    """Per job (draw order): governance facts; -1 means none / unchanged."""

    people: IntArray
    sensitive: IntArray
    model: IntArray  # index into MODELS
    public: npt.NDArray[np.bool_]
    generative: npt.NDArray[np.bool_]
    #: partners' services on Chinese data: the data's new home (site index), else -1
    cn_home: IntArray


def _governance_facts(
    rng: np.random.Generator,
    scenario: Scenario,
    t: _Tables,
    tenant: IntArray,
    kind: IntArray,
    home: IntArray,
    klass: IntArray,
) -> _Facts:
    """People counts, models and audiences, and partner services on data homed in China."""
    n = len(tenant)
    personal_k = CLASSES.index(Classification.PERSONAL)
    online = kind == KINDS.index(JobKind.ONLINE_INFERENCE)
    sectors = np.asarray([scenario.tenants[i].sector for i in t.tenant_ids], dtype=object)
    sector = sectors[tenant]
    partner = (sector == Sector.INTERNATIONAL_PARTNER) & online
    cn_tenant = [k for k, i in enumerate(t.tenant_ids) if scenario.tenants[i].jurisdiction == "CN"]
    cn_home = np.full(n, -1, dtype=np.int64)
    on_cn = partner & (rng.random(n) < PARTNER_ON_CN_DATA)
    if cn_tenant and on_cn.any():
        rows = np.full(int(on_cn.sum()), cn_tenant[0], dtype=np.int64)
        cn_home[on_cn] = _pick(t.home_cum, rows, rng)
    personal = (klass == personal_k) | (cn_home >= 0)
    people = np.round(PEOPLE[0] * np.exp(PEOPLE[1] * rng.standard_normal(n))).astype(np.int64)
    big = (cn_home >= 0) & (rng.random(n) < PARTNER_ASSESSMENT)
    people[big] = rng.integers(1_000_000, 3_000_000, size=int(big.sum()))
    people[~personal] = -1
    sensitive_sector = (sector == Sector.FINANCE) | (sector == Sector.HEALTHCARE)
    has_sensitive = personal & sensitive_sector & (rng.random(n) < SENSITIVE_SHARE)
    drawn = SENSITIVE_PEOPLE[0] * np.exp(SENSITIVE_PEOPLE[1] * rng.standard_normal(n))
    sensitive = np.where(has_sensitive, np.round(drawn), 0).astype(np.int64)
    p = np.asarray([w for _, w in MODELS])
    model = np.where(online, rng.choice(len(MODELS), size=n, p=p / p.sum()), -1)
    # a service with no named model is internal (not public-facing)
    named = np.asarray([m is not None for m, _ in MODELS] + [False])[model]  # -1: no model
    public = online & named & (rng.random(n) < PUBLIC_FACING)
    generative = rng.random(n) < GENERATIVE
    return _Facts(people, sensitive, model, public, generative, cn_home)


def _arrivals(
    rng: np.random.Generator,
    kind: IntArray,
    offset: FloatArray,
    scenario: Scenario,
    horizon: float,
) -> FloatArray:
    """Arrival hours: a whole hour drawn from the diurnal/weekly rate, then uniform within."""
    hours = int(np.ceil(horizon))
    utc_hour = scenario.start.hour + np.arange(hours, dtype=np.float64)
    weekday0 = scenario.start.weekday()
    arrival = np.empty(len(kind))
    for k, job_kind in enumerate(KINDS):
        amp, weekend = DIURNAL[job_kind]
        for off in np.unique(offset[kind == k]):
            mine = np.flatnonzero((kind == k) & (offset == off))
            local = utc_hour + off
            day = (weekday0 + np.floor(local / 24.0)) % 7
            rate = 1 + amp * np.cos(2 * np.pi * (np.mod(local, 24.0) - PEAK_LOCAL_HOUR) / 24)
            rate = rate * np.where(day >= 5, weekend, 1.0)
            rate[-1] *= horizon - (hours - 1)  # a partial last hour
            cdf = np.cumsum(rate) / rate.sum()
            h = np.searchsorted(cdf, rng.random(len(mine)), side="right").clip(0, hours - 1)
            width = np.where(h == hours - 1, horizon - (hours - 1), 1.0)
            arrival[mine] = h + rng.random(len(mine)) * width
    return arrival


def _acceptable_types(
    rng: np.random.Generator,
    scenario: Scenario,
    kind: IntArray,
    home: IntArray,
    klass: IntArray,
    accel: FloatArray,
) -> tuple[list[tuple[str, ...]], IntArray, FloatArray]:
    """Type groups, and per job a group such that some site allowed to process its data has a
    pool of those types large enough (the size is cut where even the widest group falls short).

    Groups are numbered over all kinds; restricted data (personal, important, core) may only be
    processed in the jurisdiction of the site where it lives.
    """
    sites = list(scenario.sites.values())
    juris = sorted({s.jurisdiction for s in sites})
    site_j = np.asarray([juris.index(s.jurisdiction) for s in sites])
    known = set(scenario.catalog)  # `in catalog` raises for unknown names
    groups: list[tuple[str, ...]] = []
    first: list[int] = []  # index of each kind's first group
    for job_kind in KINDS:
        first.append(len(groups))
        for types, _ in TYPE_GROUPS[job_kind]:
            groups.append(tuple(x for x in types if x in known))
    # largest pool of the group's types, per (group, jurisdiction) and over all sites
    cap = np.zeros((len(groups), len(juris)))
    for g, types in enumerate(groups):
        for s, site in zip(sites, site_j, strict=True):
            for pool in s.pools:
                if pool.accelerator in types:
                    cap[g, site] = max(cap[g, site], pool.accelerators)
    cap_any = cap.max(axis=1)

    n_groups = [len(TYPE_GROUPS[k]) for k in KINDS]
    probs = [np.asarray([p for _, p in TYPE_GROUPS[k]]) for k in KINDS]
    group = np.empty(len(kind), dtype=np.int64)
    for k in range(len(KINDS)):
        mine = kind == k
        group[mine] = first[k] + rng.choice(n_groups[k], size=int(mine.sum()), p=probs[k])
    restricted = np.isin(klass, [CLASSES.index(c) for c in RESTRICTED_CLASSES])

    def capacity(g: IntArray) -> FloatArray:
        return np.asarray(np.where(restricted, cap[g, site_j[home]], cap_any[g]), np.float64)

    short = accel > capacity(group)
    widest = np.asarray(first) + np.asarray(n_groups) - 1
    group[short] = widest[kind[short]]
    accel = np.minimum(accel, capacity(group))
    if (accel <= 0).any():
        bad = int(np.flatnonzero(accel <= 0)[0])
        raise WorkloadError(
            "generate_workload",
            f"no site can run {KINDS[kind[bad]]} work on data at {sites[home[bad]].id!r}",
            "give the scenario pools of the types in suanli.workload.generate.TYPE_GROUPS",
        )
    return groups, group, accel


def _deadlines(rng: np.random.Generator, kind: IntArray, duration: FloatArray) -> FloatArray:
    """Time from arrival to deadline (EST): online none beyond the duration; training and
    fine-tuning duration x U(1.5, 4) + U(1, 6) h; batch inference duration x U(1.2, 2.5)
    + U(0.5, 3) h."""
    n = len(kind)
    factor = np.ones(n)
    extra = np.zeros(n)
    batch = kind == KINDS.index(JobKind.BATCH_INFERENCE)
    training = (kind == KINDS.index(JobKind.TRAIN)) | (kind == KINDS.index(JobKind.FINETUNE))
    factor[training] = rng.uniform(1.5, 4.0, size=int(training.sum()))
    extra[training] = rng.uniform(1.0, 6.0, size=int(training.sum()))
    factor[batch] = rng.uniform(1.2, 2.5, size=int(batch.sum()))
    extra[batch] = rng.uniform(0.5, 3.0, size=int(batch.sum()))
    return np.asarray(duration * factor + extra, dtype=np.float64)


def _assemble(
    scenario: Scenario,
    t: _Tables,
    tenant: IntArray,
    kind: IntArray,
    accel: FloatArray,
    groups: list[tuple[str, ...]],
    group: IntArray,
    duration: FloatArray,
    arrival: FloatArray,
    to_deadline: FloatArray,
    home: IntArray,
    klass: IntArray,
    data_gb: FloatArray,
    slo: IntArray,
    facts: _Facts,
) -> list[Job]:
    """Job objects in arrival order, numbered j000001, ..."""
    site_ids = list(scenario.sites)
    order = np.argsort(arrival, kind="stable")
    arrival_r = np.round(arrival, 4)
    duration_r = np.round(duration, 4)
    deadline_r = np.round(arrival_r + to_deadline, 4)
    width = max(6, len(str(len(order))))
    online_k = KINDS.index(JobKind.ONLINE_INFERENCE)
    batch_k = KINDS.index(JobKind.BATCH_INFERENCE)
    personal = CLASSES.index(Classification.PERSONAL)
    data_site = np.where(facts.cn_home >= 0, facts.cn_home, home)
    data_class = np.where(facts.cn_home >= 0, personal, klass)
    people = facts.people.tolist()
    sensitive = facts.sensitive.tolist()
    model = facts.model.tolist()
    public = facts.public.tolist()
    generative = facts.generative.tolist()
    jobs = []
    for number, i in enumerate(order.tolist(), start=1):
        k = int(kind[i])
        online = k == online_k
        jobs.append(
            Job(
                id=f"j{number:0{width}d}",
                tenant=t.tenant_ids[tenant[i]],
                kind=KINDS[k],
                accelerators=float(accel[i]),
                types=groups[group[i]],
                duration_h=float(duration_r[i]),
                arrival_h=float(arrival_r[i]),
                data=DataAsset(
                    site_ids[data_site[i]],
                    float(data_gb[i]),
                    CLASSES[data_class[i]],
                    people=people[i] if people[i] >= 0 else None,
                    sensitive_people=sensitive[i],
                ),
                deadline_h=float(deadline_r[i]),
                latency_slo_ms=float(slo[i]) if online else None,
                users_site=site_ids[home[i]] if online else None,
                priority=PRIORITY[KINDS[k]],
                gang=k != batch_k,
                model_id=MODELS[model[i]][0] if model[i] >= 0 else None,
                public_facing=public[i],
                generative=generative[i],
            )
        )
    return jobs
