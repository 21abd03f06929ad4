"""The experiment as library functions: one pod list, or a whole trace folder (the sweep)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suanli.errors import InputError, WorkloadError
from suanli.frag.published import Comparison, compare, read_published, table_csv
from suanli.frag.report import render
from suanli.frag.summary import Summary
from suanli.frag.sweep import Job, Progress, policy_names, run_local, run_ray, summarize
from suanli.frag.trace import NodeTable, PodTable, read_nodes, read_pods

NODE_FILE = "openb_node_list_gpu_node.csv"
POD_PATTERN = re.compile(r"^openb_pod_list_(?P<trace>.+)\.csv(\.gz)?$")
PUBLISHED_FILE = "published_unallocated_gpu_pct.csv"


@dataclass
class SweepOutcome:
    """Summaries of a run set, the published numbers they compare to, and their renderings."""

    summaries: list[Summary]
    pods_label: str
    seeds: list[int]
    published: dict[tuple[str, str, int], float] = field(default_factory=dict)

    @property
    def comparisons(self) -> list[Comparison]:
        """Published vs ours where both exist."""
        return compare(self.summaries, self.published)

    def html(self) -> str:
        """The self-contained HTML report."""
        return render(self.summaries, self.comparisons)

    def json_object(self) -> dict[str, Any]:
        """One policy: the flat object of the issue; several: the same objects under ``results``."""
        objs = [
            {
                "policy": s.policy,
                "pods": self.pods_label if len({x.trace for x in self.summaries}) == 1 else s.trace,
                "seeds": list(s.seeds),
                "unallocated_gpu_pct": {"100": s.mean[100], "130": s.mean[130]},
                "sd": {"100": s.sd[100], "130": s.sd[130]},
                "decisions_per_s": s.decisions_per_s,
            }
            for s in self.summaries
        ]
        if len(objs) == 1:
            return objs[0]
        return {"policy": "all", "pods": self.pods_label, "seeds": self.seeds, "results": objs}


def parse_seeds(spec: str) -> list[int]:
    """'42-51' (inclusive) or '42,43,50' -> a sorted list of distinct seeds."""
    seeds: set[int] = set()
    try:
        for part in spec.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, part)
                seeds.update(range(int(lo), int(hi) + 1))
            elif part:
                seeds.add(int(part))
    except ValueError:
        raise InputError(
            f"--seeds {spec}", "not a seed list", "write e.g. 42-51 or 42,43"
        ) from None
    if not seeds:
        raise InputError(f"--seeds {spec}", "no seeds", "write e.g. 42-51 or 42,43")
    return sorted(seeds)


def _trace_name(pods: Path) -> str:
    m = POD_PATTERN.match(pods.name)
    if m:
        return m.group("trace")
    return pods.name.split(".")[0]


def _execute(
    nodes: NodeTable,
    traces: dict[str, PodTable],
    jobs: Sequence[Job],
    *,
    workers: int | None,
    address: str | None,
    use_ray: bool,
    progress: Progress | None,
) -> list[Summary]:
    if use_ray:
        results = run_ray(nodes, traces, jobs, workers=workers, address=address, progress=progress)
    else:
        results = run_local(nodes, traces, jobs, progress=progress)
    return summarize(results)


def run_single(
    nodes_path: Path,
    pods_path: Path,
    policy: str,
    seeds: Sequence[int],
    *,
    workers: int | None = None,
    address: str | None = None,
    use_ray: bool = True,
    progress: Progress | None = None,
) -> SweepOutcome:
    """Every requested policy on one pod list over ``seeds``."""
    names = policy_names(policy)
    nodes = read_nodes(nodes_path)
    trace = _trace_name(pods_path)
    traces = {trace: read_pods(pods_path)}
    jobs = [(p, trace, s) for p in names for s in seeds]
    summaries = _execute(
        nodes, traces, jobs, workers=workers, address=address, use_ray=use_ray, progress=progress
    )
    published: dict[tuple[str, str, int], float] = {}
    for candidate in (
        pods_path.parent / PUBLISHED_FILE,
        pods_path.parent / (PUBLISHED_FILE + ".gz"),
    ):
        if candidate.exists():
            published = read_published(candidate)
            break
    return SweepOutcome(summaries, str(pods_path), list(seeds), published)


def run_sweep(
    folder: Path,
    out: Path,
    seeds: Sequence[int],
    policy: str = "all",
    *,
    workers: int | None = None,
    address: str | None = None,
    use_ray: bool = True,
    progress: Progress | None = None,
) -> SweepOutcome:
    """Every policy on every pod list of ``folder``; table, comparison and report go to ``out``."""
    if not folder.is_dir():
        raise InputError(f"--sweep {folder}", "not a folder")
    node_path = next(
        (p for p in (folder / NODE_FILE, folder / (NODE_FILE + ".gz")) if p.exists()), None
    )
    if node_path is None:
        raise WorkloadError(str(folder), f"no {NODE_FILE}[.gz] in the trace folder")
    pod_paths = sorted(p for p in folder.iterdir() if POD_PATTERN.match(p.name))
    if not pod_paths:
        raise WorkloadError(str(folder), "no openb_pod_list_*.csv[.gz] in the trace folder")
    names = policy_names(policy)
    nodes = read_nodes(node_path)
    traces = {_trace_name(p): read_pods(p) for p in pod_paths}
    published: dict[tuple[str, str, int], float] = {}
    pub_path = next(
        (p for p in (folder / PUBLISHED_FILE, folder / (PUBLISHED_FILE + ".gz")) if p.exists()),
        None,
    )
    if pub_path is not None:
        published = read_published(pub_path)
    jobs = [(p, t, s) for p in names for t in sorted(traces) for s in seeds]
    summaries = _execute(
        nodes, traces, jobs, workers=workers, address=address, use_ray=use_ray, progress=progress
    )
    outcome = SweepOutcome(summaries, str(folder), list(seeds), published)
    out.mkdir(parents=True, exist_ok=True)
    (out / "unallocated_gpu_pct.csv").write_text(table_csv(summaries))
    lines = ["trace,policy,arrived_pct,published,reproduced,deviation"]
    lines += [
        f"{c.trace},{c.policy},{c.arrived_pct},{c.published:.2f},{c.reproduced:.2f},{c.deviation:+.2f}"
        for c in outcome.comparisons
    ]
    (out / "comparison.csv").write_text("\n".join(lines) + "\n")
    (out / "report.html").write_text(outcome.html())
    return outcome
