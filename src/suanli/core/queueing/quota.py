"""Queues, cohorts and quotas: who may use how many accelerators of each flavor.

The model follows Kueue's ClusterQueue/Cohort API (kueue.sigs.k8s.io/v1beta1, "Borrowing and
lending"): every queue has a *nominal* quota per flavor (accelerator type); queues in one
cohort lend each other what they do not use.

For queue ``q`` and flavor ``f`` (``n`` nominal, ``b`` borrowing limit, ``l`` lending limit,
``u`` usage; a missing limit is unbounded):

* guaranteed  ``g = n - l`` (``0`` without a lending limit): never lent out;
* lendable    ``n - g``: what ``q`` adds to the cohort's shared pool;
* in the pool ``max(0, u - g)``: the part of ``q``'s usage drawn from the pool.

A request of ``r`` fits ``q`` when ``u + r <= n + b`` and the pool still holds the extra part
drawn from it. A queue outside any cohort is its own pool. Nested cohorts are validated (no
cycles) and accounted at their root cohort.

Usage is counted in milli-accelerators (a share of one GPU counts as its fraction).

A flavor is an accelerator type in a *scope* (Kueue's ResourceFlavor: a type of node, where
node labels may name the zone): with ``flavorScope: network`` (the default) a flavor is the
type anywhere in the network (``A100``); with ``hub`` it is the type in one national hub
(``A100@Ningxia``, the hub as its sites name it), with ``site`` the type at one site
(``A100@zhangjiakou``). So a quota per flavor is a quota per accelerator class and per hub or
site, and borrowing happens between queues for the same type in the same place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suanli.errors import ScenarioError, SchedulingError

MILLI = 1000
UNBOUNDED = math.inf
#: where a flavor holds: anywhere, in one hub, at one site
SCOPES = ("network", "hub", "site")


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    """One queue's quota for one flavor, in accelerators (None: unbounded)."""

    nominal: float
    borrowing_limit: float | None = None
    lending_limit: float | None = None

    @property
    def guaranteed(self) -> float:
        """The part of the nominal quota never lent to the cohort."""
        return 0.0 if self.lending_limit is None else self.nominal - self.lending_limit

    @property
    def ceiling(self) -> float:
        """The most the queue may ever use: nominal plus its borrowing limit."""
        return UNBOUNDED if self.borrowing_limit is None else self.nominal + self.borrowing_limit


#: the quota of a flavor a queue does not name (one shared value: the book asks often)
NO_QUOTA = FlavorQuota(0.0)


@dataclass(frozen=True, slots=True)
class ClusterQueue:
    """A queue of one or more tenants, with quotas per flavor and an optional cohort."""

    name: str
    tenants: tuple[str, ...]
    quotas: Mapping[str, FlavorQuota]
    cohort: str | None = None
    #: fair-sharing weight (DRF shares are divided by it)
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Cohort:
    name: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class PriorityClass:
    """A named priority (Kubernetes' PriorityClass): jobs of the class get ``value``; with
    ``preempts`` False (``preemptionPolicy: Never``) they never evict others to start, but
    may still be evicted."""

    name: str
    value: int
    preempts: bool = True


#: the range of a priority, as the service's job API accepts it
PRIORITY_RANGE = (-1000, 1000)
PREEMPTION_POLICIES = {"PreemptLowerPriority": True, "Never": False}


@dataclass(frozen=True, slots=True)
class QueueingConfig:
    """Every queue and cohort of a scenario, validated."""

    queues: Mapping[str, ClusterQueue]
    cohorts: Mapping[str, Cohort] = field(default_factory=dict)
    #: one of `SCOPES`
    scope: str = "network"
    #: site id -> the hub or site its flavors are named after (empty in the network scope)
    place_of: Mapping[str, str] = field(default_factory=dict)
    #: named priorities by name, and the class of a job that names none (None: priority 0)
    priority_classes: Mapping[str, PriorityClass] = field(default_factory=dict)
    default_class: str | None = None

    def flavor(self, accelerator: str, site: str) -> str:
        """The flavor of ``accelerator`` at ``site``: ``A100``, or ``A100@<hub or site>``."""
        if self.scope == "network":
            return accelerator
        return f"{accelerator}@{self.place_of[site]}"

    def queue_of(self, tenant: str) -> ClusterQueue:
        for q in self.queues.values():
            if tenant in q.tenants:
                return q
        raise SchedulingError(f"tenant {tenant!r} belongs to no queue")

    def root(self, cohort: str) -> str:
        """The top cohort above ``cohort`` (accounting happens there)."""
        seen = {cohort}
        while (parent := self.cohorts[cohort].parent) is not None:
            cohort = parent
            if cohort in seen:  # pragma: no cover - excluded by validation
                raise SchedulingError(f"cohort cycle through {cohort!r}")
            seen.add(cohort)
        return cohort


# -- configuration ------------------------------------------------------------------------


def parse_queueing(
    raw: Mapping[str, Any],
    flavors: Iterable[str],
    tenants: Iterable[str],
    place: str,
    pools: Iterable[tuple[str, str, str]] = (),
) -> QueueingConfig:
    """Read the ``queueing:`` section of a scenario (a mapping of ``queues``, ``cohorts`` and
    an optional ``flavorScope``) and validate it; every problem is a `ScenarioError` naming
    its path. ``flavors`` are the accelerator types of the sites; ``pools`` the (site, hub,
    type) of every pool, which name the flavors of the hub and site scopes."""
    keys = {"queues", "cohorts", "flavorScope", "priorityClasses"}
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ScenarioError(place, f"unknown keys {unknown}", f"use {', '.join(sorted(keys))}")
    scope = raw.get("flavorScope", "network")
    if scope not in SCOPES:
        raise ScenarioError(
            f"{place}.flavorScope", f"unknown scope {scope!r}", f"choose from {', '.join(SCOPES)}"
        )
    place_of: dict[str, str] = {}
    known_flavors = set(flavors)
    if scope != "network":
        pools = list(pools)
        place_of = {site: hub if scope == "hub" else site for site, hub, _ in pools}
        known_flavors = {f"{acc}@{place_of[site]}" for site, _, acc in pools}
    known_tenants = set(tenants)
    cohorts: dict[str, Cohort] = {}
    for i, c in enumerate(_list(raw.get("cohorts", []), f"{place}.cohorts")):
        where = f"{place}.cohorts[{i}]"
        name = _str(c, "name", where)
        parent = c.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise ScenarioError(f"{where}.parent", "must be a cohort name")
        if name in cohorts:
            raise ScenarioError(f"{where}.name", f"cohort {name!r} is defined twice")
        cohorts[name] = Cohort(name, parent)
    for c in cohorts.values():
        if c.parent is not None and c.parent not in cohorts:
            raise ScenarioError(
                f"{place}.cohorts", f"cohort {c.name!r} names unknown parent {c.parent!r}"
            )
    _check_no_cycle(cohorts, place)
    queues: dict[str, ClusterQueue] = {}
    owner: dict[str, str] = {}
    for i, q in enumerate(_list(raw.get("queues", []), f"{place}.queues")):
        where = f"{place}.queues[{i}]"
        queue = _parse_queue(q, where, known_flavors, known_tenants, cohorts)
        if queue.name in queues:
            raise ScenarioError(f"{where}.name", f"queue {queue.name!r} is defined twice")
        for t in queue.tenants:
            if t in owner:
                raise ScenarioError(
                    f"{where}.tenants", f"tenant {t!r} is already in queue {owner[t]!r}"
                )
            owner[t] = queue.name
        queues[queue.name] = queue
    if not queues:
        raise ScenarioError(f"{place}.queues", "at least one queue is needed")
    classes, default = _parse_classes(raw.get("priorityClasses", []), f"{place}.priorityClasses")
    return QueueingConfig(queues, cohorts, scope, place_of, classes, default)


def _parse_classes(raw: Any, place: str) -> tuple[dict[str, PriorityClass], str | None]:
    classes: dict[str, PriorityClass] = {}
    default: str | None = None
    low, high = PRIORITY_RANGE
    for i, c in enumerate(_list(raw, place)):
        where = f"{place}[{i}]"
        name = _str(c, "name", where)
        unknown = sorted(set(c) - {"name", "value", "preemptionPolicy", "globalDefault"})
        if unknown:
            raise ScenarioError(where, f"unknown keys {unknown}")
        if name in classes:
            raise ScenarioError(f"{where}.name", f"priority class {name!r} is defined twice")
        value = c.get("value")
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ScenarioError(
                f"{where}.value", f"must be a whole number in [{low}, {high}], got {value!r}"
            )
        policy = c.get("preemptionPolicy", "PreemptLowerPriority")
        if policy not in PREEMPTION_POLICIES:
            raise ScenarioError(
                f"{where}.preemptionPolicy",
                f"unknown preemption policy {policy!r}",
                f"choose from {', '.join(PREEMPTION_POLICIES)}",
            )
        if c.get("globalDefault", False) is True:
            if default is not None:
                raise ScenarioError(
                    f"{where}.globalDefault", f"{default!r} is already the default class"
                )
            default = name
        classes[name] = PriorityClass(name, value, PREEMPTION_POLICIES[policy])
    return classes, default


def _parse_queue(
    q: Any, where: str, flavors: set[str], tenants: set[str], cohorts: Mapping[str, Cohort]
) -> ClusterQueue:
    if not isinstance(q, Mapping):
        raise ScenarioError(where, "must be a mapping")
    name = _str(q, "name", where)
    members = tuple(_list(q.get("tenants", []), f"{where}.tenants"))
    for t in members:
        if t not in tenants:
            raise ScenarioError(f"{where}.tenants", f"unknown tenant {t!r}")
    cohort = q.get("cohort")
    if cohort is not None and cohort not in cohorts:
        raise ScenarioError(
            f"{where}.cohort", f"unknown cohort {cohort!r}", "define it under queueing.cohorts"
        )
    weight = q.get("weight", 1.0)
    if not isinstance(weight, int | float) or weight <= 0:
        raise ScenarioError(f"{where}.weight", f"must be a number > 0, got {weight!r}")
    quotas: dict[str, FlavorQuota] = {}
    raw_quotas = q.get("quotas", {})
    if not isinstance(raw_quotas, Mapping):
        raise ScenarioError(f"{where}.quotas", "must map flavors to quotas")
    for flavor, spec in raw_quotas.items():
        at = f"{where}.quotas.{flavor}"
        if flavor not in flavors:
            raise ScenarioError(
                at,
                f"quota on unknown flavor {flavor!r}",
                f"choose from {', '.join(sorted(flavors))}",
            )
        quotas[flavor] = _parse_flavor_quota(spec, at, in_cohort=cohort is not None)
    return ClusterQueue(name, members, quotas, cohort, float(weight))


#: the scenario file's camelCase spellings of the limits
_SNAKE = {"borrowingLimit": "borrowing_limit", "lendingLimit": "lending_limit"}


def _parse_flavor_quota(spec: Any, at: str, in_cohort: bool) -> FlavorQuota:
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        spec = {"nominal": spec}
    if not isinstance(spec, Mapping):
        raise ScenarioError(at, "must be a number or a mapping with nominal, borrowing_limit, ...")
    written = {_SNAKE.get(k, k): k for k in spec}
    spec = {_SNAKE.get(k, k): v for k, v in spec.items()}
    unknown = set(spec) - {"nominal", "borrowing_limit", "lending_limit"}
    if unknown:
        raise ScenarioError(at, f"unknown keys {sorted(written[k] for k in unknown)}")
    values: dict[str, float | None] = {}
    for key in ("nominal", "borrowing_limit", "lending_limit"):
        v = spec.get(key)
        if v is None:
            values[key] = None
            continue
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise ScenarioError(f"{at}.{written[key]}", f"must be a number, got {v!r}")
        if v < 0:
            raise ScenarioError(
                f"{at}.{written[key]}", f"negative limit {v}", "limits must be >= 0"
            )
        values[key] = float(v)
    nominal = values["nominal"]
    if nominal is None:
        raise ScenarioError(f"{at}.nominal", "is required")
    lending = values["lending_limit"]
    if lending is not None and lending > nominal:
        raise ScenarioError(
            f"{at}.{written['lending_limit']}", f"lends {lending} of a nominal quota of {nominal}"
        )
    if not in_cohort and (values["borrowing_limit"] or lending is not None):
        raise ScenarioError(at, "borrowing and lending limits need the queue to be in a cohort")
    return FlavorQuota(nominal, values["borrowing_limit"], lending)


def _check_no_cycle(cohorts: Mapping[str, Cohort], place: str) -> None:
    for start in cohorts:
        path = [start]
        node = cohorts[start].parent
        while node is not None:
            if node in path:
                cycle = " -> ".join([*path[path.index(node) :], node])
                raise ScenarioError(f"{place}.cohorts", f"cohort cycle: {cycle}")
            path.append(node)
            node = cohorts[node].parent


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise ScenarioError(where, "must be a list")
    return v


def _str(m: Any, key: str, where: str) -> str:
    if not isinstance(m, Mapping):
        raise ScenarioError(where, "must be a mapping")
    v = m.get(key)
    if not isinstance(v, str) or not v:
        raise ScenarioError(f"{where}.{key}", "must be a non-empty string")
    return v


# -- accounting ---------------------------------------------------------------------------


class QuotaBook:
    """Live usage of every queue per flavor, and whether a request fits its quota.

    Changes are trial-friendly: `admit` and `release` are exact inverses, so a caller may try
    a set of changes on the book and undo them when the attempt fails (see `trial`).
    """

    def __init__(self, config: QueueingConfig) -> None:
        self.config = config
        #: queue -> flavor -> milli-accelerators in use
        self.usage: dict[str, dict[str, int]] = {q: {} for q in config.queues}
        self._pool_of: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}
        for q in config.queues.values():
            pool = f"cohort:{config.root(q.cohort)}" if q.cohort else f"queue:{q.name}"
            self._pool_of[q.name] = pool
            self._members.setdefault(pool, []).append(q.name)
        #: pool -> flavor -> milli its members lend (fixed) and milli of it in use: kept as
        #: running sums, so `pool_free` does not walk the cohort on every request
        self._lent: dict[str, dict[str, float]] = {p: defaultdict(float) for p in self._members}
        self._drawn: dict[str, dict[str, float]] = {p: defaultdict(float) for p in self._members}
        for q in config.queues.values():
            for f, fq in q.quotas.items():
                self._lent[self._pool_of[q.name]][f] += fq.nominal * MILLI - fq.guaranteed * MILLI

    def _quota(self, queue: str, flavor: str) -> FlavorQuota:
        return self.config.queues[queue].quotas.get(flavor, NO_QUOTA)

    def used(self, queue: str, flavor: str) -> int:
        return self.usage[queue].get(flavor, 0)

    def pool_free(self, queue: str, flavor: str) -> float:
        """Milli of ``flavor`` still free in the shared pool of ``queue``'s cohort: what its
        members lend, less the part of their usage above what each keeps for itself."""
        pool = self._pool_of[queue]
        return self._lent[pool].get(flavor, 0.0) - self._drawn[pool].get(flavor, 0.0)

    def _set(self, queue: str, flavor: str, milli: int) -> None:
        g = self._quota(queue, flavor).guaranteed * MILLI
        old = self.used(queue, flavor)
        self._drawn[self._pool_of[queue]][flavor] += max(0.0, milli - g) - max(0.0, old - g)
        self.usage[queue][flavor] = milli

    def fits(self, queue: str, flavor: str, milli: int) -> bool:
        """Whether ``milli`` more of ``flavor`` keeps ``queue`` within nominal + borrowing
        and the cohort within what its members lend."""
        fq = self._quota(queue, flavor)
        u = self.used(queue, flavor)
        if u + milli > fq.ceiling * MILLI + 1e-6:
            return False
        g = fq.guaranteed * MILLI
        extra = max(0.0, u + milli - g) - max(0.0, u - g)
        return extra <= self.pool_free(queue, flavor) + 1e-6

    def borrowed(self, queue: str, flavor: str) -> float:
        """Milli of ``flavor`` that ``queue`` uses above its nominal quota."""
        return max(0.0, self.used(queue, flavor) - self._quota(queue, flavor).nominal * MILLI)

    def headroom(self, queue: str, flavor: str) -> float:
        """Milli ``queue`` may still take of ``flavor`` (own quota, borrowing and cohort)."""
        fq = self._quota(queue, flavor)
        u = self.used(queue, flavor)
        g = fq.guaranteed * MILLI
        own = max(0.0, g - u)
        return max(0.0, min(fq.ceiling * MILLI - u, own + self.pool_free(queue, flavor)))

    def admit(self, queue: str, flavor: str, milli: int) -> None:
        self._set(queue, flavor, self.used(queue, flavor) + milli)

    def release(self, queue: str, flavor: str, milli: int) -> None:
        left = self.used(queue, flavor) - milli
        if left < 0:
            raise SchedulingError(f"queue {queue!r} releases more {flavor} than it holds")
        self._set(queue, flavor, left)

    def violations(self) -> list[str]:
        """Every queue/flavor over its ceiling and every cohort pool over its lendable total
        (empty when the book is consistent)."""
        out = []
        for q, flavors in self.usage.items():
            for f, u in flavors.items():
                if u > self._quota(q, f).ceiling * MILLI + 1e-6:
                    out.append(f"{q}/{f}: {u / MILLI:g} over its ceiling")
                if self.pool_free(q, f) < -1e-6:
                    out.append(f"{q}/{f}: cohort pool overdrawn")
        return sorted(set(out))
