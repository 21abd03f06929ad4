"""Trace variants not in the data, sampled from `default` the way the other pod lists were.

Alibaba's README: the other pod lists "are sampled from the default one, emphasizing certain
types of workloads". This writes variants of that kind (our sampling rule, not Alibaba's):

* ``gpushareXX``: sharing pods make XX% of the GPU demand (GPU pods drawn with replacement from
  the sharing and the other GPU pods of `default`, in the mix that gives that share);
* ``multigpuXX``: the same for multi-GPU pods;
* ``cpuXXX``: the GPU pods of `default` and CPU-only pods drawn from its own, XXX/10 % of all;
* ``gpuspecXX``: `default` with XX% of its GPU pods given a type constraint drawn from
  `gpuspec10`'s.

    .venv/bin/python benchmarks/frag_variants.py --out /tmp/variants [--seed 2026]
        [--gpushare 30,50,70,90] [--multigpu 25,50] [--cpu 150,300] [--gpuspec 20,33]

The variants of docs/fgd.md are the defaults (seed 2026) and ``--seed 2027 --gpushare ''
--multigpu '' --cpu 250,400 --gpuspec ''`` (cpu250 and cpu400).

then, for each file: ``suanli frag --nodes data/alibaba-gpu-2023/openb_node_list_gpu_node.csv.gz
--pods FILE --policy fgd|suanli --seeds 42-44 --no-ray --json`` (docs/fgd.md, "Trace variants
not in the data").
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "alibaba-gpu-2023"
Row = dict[str, str]


def read(name: str) -> list[Row]:
    with gzip.open(DATA / f"openb_pod_list_{name}.csv.gz", "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def demand(r: Row) -> int:
    return int(r["num_gpu"]) * int(r["gpu_milli"])


def mix(gpu: list[Row], pred: Callable[[Row], bool], share: float, rng: random.Random) -> list[Row]:
    """len(gpu) pods drawn so that those with ``pred`` make ``share`` of the GPU demand."""
    a = [r for r in gpu if pred(r)]
    b = [r for r in gpu if not pred(r)]
    ma = sum(map(demand, a)) / len(a)
    mb = sum(map(demand, b)) / len(b)
    q = share * mb / (ma * (1 - share) + share * mb)
    return [dict(rng.choice(a) if rng.random() < q else rng.choice(b)) for _ in gpu]


def write(out: Path, name: str, pods: list[Row], fields: list[str]) -> None:
    for i, r in enumerate(pods):
        r["name"] = f"{name}-{i:05d}"
    with (out / f"openb_pod_list_{name}.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(pods)


def numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--gpushare", default="30,50,70,90")
    ap.add_argument("--multigpu", default="25,50")
    ap.add_argument("--cpu", default="150,300")
    ap.add_argument("--gpuspec", default="20,33")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = read("default")
    fields = list(rows[0])
    specs = [r["gpu_spec"] for r in read("gpuspec10") if r["gpu_spec"]]
    cpu_only = [r for r in rows if int(r["num_gpu"]) == 0]
    gpu = [r for r in rows if int(r["num_gpu"]) > 0]
    rng = random.Random(args.seed)
    for p in numbers(args.gpushare):
        shared = mix(gpu, lambda r: int(r["gpu_milli"]) < 1000, p / 100, rng)
        pods = [dict(r) for r in cpu_only] + shared
        write(args.out, f"gpushare{p}", pods, fields)
    for p in numbers(args.multigpu):
        multi = mix(gpu, lambda r: int(r["num_gpu"]) > 1, p / 100, rng)
        pods = [dict(r) for r in cpu_only] + multi
        write(args.out, f"multigpu{p}", pods, fields)
    for c in numbers(args.cpu):
        n = round(len(gpu) * (c / 1000) / (1 - c / 1000))
        pods = [dict(rng.choice(cpu_only)) for _ in range(n)] + [dict(r) for r in gpu]
        write(args.out, f"cpu{c}", pods, fields)
    for s in numbers(args.gpuspec):
        pods = [dict(r) for r in rows]
        for r in pods:
            if int(r["num_gpu"]) > 0 and rng.random() < s / 100:
                r["gpu_spec"] = rng.choice(specs)
        write(args.out, f"gpuspec{s}", pods, fields)
    print(f"wrote {len(list(args.out.glob('openb_pod_list_*.csv')))} files to {args.out}")


if __name__ == "__main__":
    main()
