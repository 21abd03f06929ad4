"""Why a job went where it went, read back from a ledger's entries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class JobStory:
    """Every ledger entry about one job, in ledger order."""

    job: str
    entries: tuple[dict[str, Any], ...]

    @property
    def placement(self) -> dict[str, Any] | None:
        """The data of the job's last placement entry, if any."""
        for e in reversed(self.entries):
            if e["kind"] == "placement":
                data: dict[str, Any] = e["data"]
                return data
        return None

    def lines(self) -> list[str]:
        """A person's reading of the story, one line per fact."""
        out: list[str] = []
        for e in self.entries:
            d, t = e["data"], e["time"]
            head = f"[{t:g} h] #{e['seq']} {e['kind']}"
            if e["kind"] == "placement":
                x = d.get("explanation", {})
                out.append(
                    f"{head}: {d['site']} on {d['accelerator']} by policy {x.get('policy')}"
                    f" ({x.get('reason')}), {d.get('costYuan')} yuan"
                )
                for part in d.get("parts", []):  # a gang split across sites
                    out.append(
                        f"    part {part['site']}/pool {part['pool']}: "
                        f"{part['accelerators']:g} accelerators, {part['costYuan']} yuan"
                    )
                for site, yuan in sorted(x.get("considered", {}).items(), key=lambda kv: kv[1]):
                    out.append(f"    considered {site}: {yuan} yuan")
                for site, why in sorted(x.get("excluded", {}).items()):
                    out.append(f"    excluded {site}: {why}")
            elif e["kind"] == "rejection":
                out.append(f"{head}: no site may take it")
                for site, why in sorted(d.get("reasons", {}).items()):
                    out.append(f"    {site}: {why}")
            else:
                rest = {k: v for k, v in d.items() if k != "job"}
                out.append(f"{head}: {json.dumps(rest, sort_keys=True, ensure_ascii=False)}")
        return out


def explain(lines: Iterable[bytes], job_id: str) -> JobStory:
    """Collect the entries whose ``data.job`` is ``job_id``."""
    found = []
    for line in lines:
        if job_id.encode() not in line:  # cheap filter before parsing
            continue
        e = json.loads(line)
        if e.get("data", {}).get("job") == job_id:
            found.append(e)
    return JobStory(job_id, tuple(found))
