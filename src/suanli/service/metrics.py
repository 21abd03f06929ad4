"""Prometheus metrics of one service process (exposed at ``/metrics``).

Each service gets its own registry, so tests may build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ADMISSION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class ServiceMetrics:
    def __init__(self) -> None:
        #: the API process's own metrics
        self.api = CollectorRegistry()
        #: the scheduling loop's (in a scheduler process, exported through a file)
        self.registry = r = CollectorRegistry()
        self.api_latency = Histogram(
            "suanli_api_request_seconds",
            "API request latency",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.api,
        )
        self.jobs = Gauge("suanli_jobs", "Jobs by state (queue depths)", ["state"], registry=r)
        self.admission = Histogram(
            "suanli_admission_seconds",
            "From submission to admission by the scheduler",
            buckets=ADMISSION_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "suanli_decisions_total",
            "Scheduler decisions and job outcomes",
            ["outcome"],
            registry=r,
        )
        self.utilization = Gauge(
            "suanli_site_utilization",
            "Share of a site's accelerators held by running jobs",
            ["site"],
            registry=r,
        )
        self.leader = Gauge("suanli_leader", "1 while this replica runs the scheduler", registry=r)
        self.cycles = Counter("suanli_scheduler_cycles_total", "Scheduling cycles run", registry=r)
