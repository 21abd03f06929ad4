"""The FGD paper's packing experiment on the Alibaba 2023 GPU trace (``suanli frag``).

Trace loading (``trace``), the protocol of one run (``protocol``), the Ray fan-out and the
results table (``sweep``), the published comparison (``published``), the HTML report
(``report``) and the library functions behind the command (``experiment``).
"""

from suanli.frag.experiment import SweepOutcome, parse_seeds, run_single, run_sweep
from suanli.frag.protocol import RunResult, run_once, shuffled_cluster, submission_order
from suanli.frag.trace import NodeTable, PodTable, read_nodes, read_pods

__all__ = [
    "NodeTable",
    "PodTable",
    "RunResult",
    "SweepOutcome",
    "parse_seeds",
    "read_nodes",
    "read_pods",
    "run_once",
    "run_single",
    "run_sweep",
    "shuffled_cluster",
    "submission_order",
]
