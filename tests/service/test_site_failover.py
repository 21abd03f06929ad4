"""Failover on fake clusters (the same code as with real ones, in a second): a down site's
jobs move or are held, a held job can be cancelled, a restarted service remembers the down
site and its stale copies, and stops those copies when the site answers again."""

from __future__ import annotations

from pathlib import Path

import httpx
from serving import job_doc, running_service, wait_for

from suanli.service.backends import (
    BackendUnavailable,
    FakeBackend,
    Health,
    Launch,
    RunStatus,
    SiteBackends,
)
from suanli.service.backends.registry import HealthSettings


class Flaky(FakeBackend):
    """A fake cluster whose controller can be switched off."""

    def __init__(self) -> None:
        super().__init__(seconds_per_hour=3600)  # a 0.1 h job runs for 6 minutes
        self.up = True

    def _answer(self) -> None:
        if not self.up:
            raise BackendUnavailable("the controller is off")

    def submit(self, launch: Launch) -> str:
        self._answer()
        return super().submit(launch)

    def poll(self, handle: str) -> RunStatus:
        self._answer()
        return super().poll(handle)

    def cancel(self, handle: str) -> None:
        self._answer()
        super().cancel(handle)

    def health(self) -> Health:
        return Health(self.up, "on" if self.up else "off")


def _router(guian: Flaky, sg: Flaky) -> SiteBackends:
    return SiteBackends(
        {"guian": guian, "sg": sg}, health=HealthSettings(interval_s=0.05, down_after_s=0.3)
    )


def _health(c: httpx.Client, site: str = "guian") -> str:
    return str(c.get(f"/v1/sites/{site}").json()["health"])


def _job(**data: str) -> dict[str, object]:
    return job_doc(
        accelerators={"count": 1, "types": ["A800", "A100"]},
        durationHours=0.1,
        data={"site": "guian", "sizeGB": 0, "classification": "general", **data},
        checkpoint={"path": "s3://ckpt/train-1"},
    )


def test_a_down_site_is_remembered_across_a_restart_and_its_stale_copies_stopped_on_return(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'suanli.db'}"
    guian, sg = Flaky(), Flaky()
    with running_service(url, runs_on=_router(guian, sg)) as svc, svc.client("tenant") as c:
        moves = c.post("/v1/jobs", json=_job()).json()["id"]
        held = c.post("/v1/jobs", json=_job(classification="important")).json()["id"]
        for job_id in (moves, held):
            wait_for(lambda j=job_id: c.get(f"/v1/jobs/{j}").json()["status"]["state"] == "running")
        guian.up = False
        wait_for(lambda: c.get(f"/v1/jobs/{moves}").json()["status"]["site"] == "sg", timeout=10)
        wait_for(lambda: _health(c) == "down", timeout=5)
        events = c.get(f"/v1/jobs/{moves}/events").json()
        assert any(
            "resumes from its checkpoint at s3://ckpt/train-1" in e["reason"] for e in events
        )
        (moved,) = c.get("/v1/queues").json()["preemptions"]  # no policy measured its loss
        assert (moved["jobId"], moved["lostGpuH"]) == (moves, None)
        assert moved["reason"].startswith("site guian is down"), moved
        status = c.get(f"/v1/jobs/{held}").json()["status"]
        assert status["state"] == "running" and status["reason"].startswith("held on guian")
        assert "important data homed in CN may not be processed in SG" in status["reason"]
        assert c.post(f"/v1/jobs/{held}/cancel").status_code == 200
        wait_for(lambda: c.get(f"/v1/jobs/{held}").json()["status"]["state"] == "cancelled")
        assert (
            "stopped when the site answers again"
            in c.get(f"/v1/jobs/{held}").json()["status"]["reason"]
        )
    assert not guian.cancelled  # nothing could reach it

    guian2, sg2 = Flaky(), Flaky()
    guian2.up = False
    with running_service(url, runs_on=_router(guian2, sg2)) as svc, svc.client("tenant") as c:
        # still down after the restart: new work with its data at guian goes to sg at once
        new = c.post("/v1/jobs", json=_job()).json()["id"]
        wait_for(lambda: c.get(f"/v1/jobs/{new}").json()["status"]["state"] == "running")
        assert c.get(f"/v1/jobs/{new}").json()["status"]["site"] == "sg"
        guian2.up = True
        wait_for(lambda: len(guian2.cancelled) == 2, timeout=10)
        wait_for(lambda: _health(c) == "up", timeout=5)
        assert {h.split(":")[1] for h in guian2.cancelled} == {moves, held}
