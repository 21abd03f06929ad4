"""Small hand-made openb traces for the frag tests."""

from __future__ import annotations

import gzip
from pathlib import Path

NODES = """sn,cpu_milli,memory_mib,gpu,model
node-a,32000,131072,2,T4
node-b,64000,262144,4,V100
node-c,96000,393216,8,G2
node-d,16000,65536,1,T4
"""


def pods_csv(n: int = 40) -> str:
    """A pod list with shared, whole-GPU, multi-GPU, CPU-only and typed pods."""
    rows = ["name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec"]
    kinds = [
        (4000, 8192, 1, 500, ""),
        (8000, 16384, 1, 1000, ""),
        (2000, 4096, 1, 250, ""),
        (12000, 32768, 0, 0, ""),
        (16000, 65536, 2, 1000, ""),
        (6000, 8192, 1, 700, "T4|V100"),
    ]
    for i in range(n):
        cpu, mem, ng, gm, spec = kinds[i % len(kinds)]
        rows.append(f"pod-{i:03d},{cpu},{mem},{ng},{gm},{spec}")
    return "\n".join(rows) + "\n"


def write_trace(folder: Path, gz: bool = False, n: int = 40) -> tuple[Path, Path]:
    """Write node and pod lists (optionally gzipped) into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if gz else ".csv"
    nodes = folder / f"openb_node_list_gpu_node{suffix}"
    pods = folder / f"openb_pod_list_tiny{suffix}"
    for path, text in ((nodes, NODES), (pods, pods_csv(n))):
        path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return nodes, pods


def write_fine_trace(folder: Path) -> None:
    """16 eight-GPU nodes and small pods, so attempts land on every arrival percent."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = ["sn,cpu_milli,memory_mib,gpu,model"] + [
        f"g-{i:02d},96000,393216,8,G2" for i in range(16)
    ]
    pods = ["name,cpu_milli,memory_mib,num_gpu,gpu_milli"]
    for i in range(60):
        pods.append(
            f"p-{i:03d},{[2000, 4000, 6000][i % 3]},4096,{[1, 1, 0][i % 3]},{[300, 500, 0][i % 3]}"
        )
    (folder / "openb_node_list_gpu_node.csv.gz").write_bytes(
        gzip.compress(("\n".join(nodes) + "\n").encode())
    )
    (folder / "openb_pod_list_fine.csv.gz").write_bytes(
        gzip.compress(("\n".join(pods) + "\n").encode())
    )
