"""Reading trace files: plain or gzipped, and errors that name file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from frag_builders import write_trace

from suanli.errors import WorkloadError
from suanli.frag.trace import read_nodes, read_pods


@pytest.mark.parametrize("gz", [pytest.param(False, id="plain"), pytest.param(True, id="gzip")])
def test_traces_read_plain_or_gzipped(tmp_path: Path, gz: bool) -> None:
    nodes_path, pods_path = write_trace(tmp_path, gz=gz)
    nodes, pods = read_nodes(nodes_path), read_pods(pods_path)
    assert nodes.names == ("node-a", "node-b", "node-c", "node-d")
    assert nodes.total_gpu_milli == 15000
    assert len(pods.shapes) == 40
    assert pods.shapes[5].gpu_types == ("T4", "V100")
    assert list(pods.names) == sorted(pods.names)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            "sn,cpu_milli,gpu,model\nn,1,1,T4\n",
            r"line 1: missing column\(s\) memory_mib",
            id="missing-column",
        ),
        pytest.param(
            "sn,cpu_milli,memory_mib,gpu,model\nn,lots,1,1,T4\n",
            r"line 2, column cpu_milli: 'lots' is not an integer",
            id="not-a-number",
        ),
        pytest.param(
            "sn,cpu_milli,memory_mib,gpu,model\nn,1,1,-2,T4\n",
            r"line 2, column gpu: -2 is below 0",
            id="negative",
        ),
        pytest.param(
            "sn,cpu_milli,memory_mib,gpu,model\nn,1,1,1,T4\nn,1,1,1,T4\n",
            r"line 3, column sn: duplicate",
            id="duplicate",
        ),
        pytest.param("sn,cpu_milli,memory_mib,gpu,model\n", "no nodes", id="empty"),
    ],
)
def test_bad_node_lists_name_the_file_line_and_column(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "nodes.csv"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=match) as info:
        read_nodes(path)
    assert str(path) in str(info.value)


def test_a_pod_asking_a_fraction_of_two_gpus_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pods.csv"
    path.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np1,1000,1,1,500\np2,1000,1,2,500\n"
    )
    with pytest.raises(WorkloadError, match=r"line 3, columns num_gpu/gpu_milli"):
        read_pods(path)


def test_a_missing_file_is_a_workload_error(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read"):
        read_pods(tmp_path / "nope.csv")
