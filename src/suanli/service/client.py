"""The httpx client of the API, used by the CLI (and by anyone scripting Suanli).

Configured by arguments, else ``SUANLI_URL`` and ``SUANLI_TOKEN``, else the config file
``$XDG_CONFIG_HOME/suanli/config.yaml`` (keys ``url`` and ``token``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import yaml

from suanli.errors import SuanliError

DEFAULT_URL = "http://127.0.0.1:8600"


class ApiError(SuanliError):
    """The API answered with an error (its problem document is in ``problem``)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or ""
        fields = ", ".join(e.get("field", "") for e in problem.get("errors", []))
        msg = f"{status} {problem.get('title', '')}: {detail}"
        if fields and fields not in msg:
            msg += f" (fields: {fields})"
        super().__init__(msg)


def config_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "suanli" / "config.yaml"


def load_settings(url: str | None = None, token: str | None = None) -> tuple[str, str | None]:
    """(url, token) from the arguments, the environment or the config file, in that order."""
    file: dict[str, Any] = {}
    path = config_path()
    if path.is_file():
        file = yaml.safe_load(path.read_text()) or {}
    url = url or os.environ.get("SUANLI_URL") or file.get("url") or DEFAULT_URL
    token = token or os.environ.get("SUANLI_TOKEN") or file.get("token")
    return str(url), token


class SuanliClient:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        base, tok = load_settings(url, token)
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        self.http = httpx.Client(
            base_url=base, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SuanliClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            try:
                problem = r.json()
            except ValueError:
                problem = {"title": r.reason_phrase, "detail": r.text[:200]}
            raise ApiError(r.status_code, problem)
        return None if r.status_code == 204 else r.json()

    def submit(self, document: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/v1/jobs", json=document, headers=headers)

    def jobs(self, **filters: Any) -> Any:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/v1/jobs", params=params)

    def job(self, job_id: str) -> Any:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def events(self, job_id: str) -> Any:
        return self._call("GET", f"/v1/jobs/{job_id}/events")

    def cancel(self, job_id: str) -> Any:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def sites(self) -> Any:
        return self._call("GET", "/v1/sites")

    def site_energy(self, site_id: str) -> Any:
        return self._call("GET", f"/v1/sites/{site_id}/energy")

    def set_site_energy(self, site_id: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", f"/v1/sites/{site_id}/energy", json=body)

    def clear_site_energy(self, site_id: str) -> None:
        self._call("DELETE", f"/v1/sites/{site_id}/energy")

    def priority_classes(self) -> Any:
        return self._call("GET", "/v1/priority-classes")

    def create_priority_class(self, body: dict[str, Any]) -> Any:
        return self._call("POST", "/v1/priority-classes", json=body)

    def delete_priority_class(self, name: str) -> None:
        self._call("DELETE", f"/v1/priority-classes/{name}")
