"""Workloads: a seeded generator drawn from real traces, and job files (CSV, Parquet, openb).

    >>> from suanli.scenario import load_scenario
    >>> from suanli.workload import generate_workload
    >>> jobs = generate_workload(load_scenario("china-edwc"), seed=7, days=7.0)

docs/workload.md states which trace statistics each draw uses and the job file schema.
"""

from suanli.workload.files import COLUMNS, load_workload, save_workload
from suanli.workload.generate import generate_workload

__all__ = ["COLUMNS", "generate_workload", "load_workload", "save_workload"]
