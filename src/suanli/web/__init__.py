"""The operations dashboard: static pages (HTML, CSS, JavaScript; no build step, no CDN)
served by the control plane's FastAPI app under ``/ui/``.

The pages call the service's own API (``/v1``) with the user's bearer token. plotly.js (its
basic bundle, for the chart pages only) comes from ``suanli/data/js`` and the world base map
from ``suanli/data/geo`` (MIT licences, beside them), so the dashboard works offline. See
docs/dashboard.md.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(resources.files("suanli") / "web" / "static"))
DATA = Path(str(resources.files("suanli") / "data"))
WORLD = DATA / "geo" / "world_110m.json"
#: plotly.js 4.1.1's basic bundle (scatter, bar, pie): what the dashboard's charts use
PLOTLY = DATA / "js" / "plotly-basic.min.js"


def _file(path: Path, media: str) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(
            path, media_type=media, headers={"Cache-Control": "public, max-age=86400"}
        )

    return serve


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/`` redirects there)."""
    for path in (PLOTLY, WORLD):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing from the suanli package")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    vendor = {
        "plotly-basic.min.js": (PLOTLY, "text/javascript"),
        "world_110m.json": (WORLD, "application/json"),
    }
    for name, (path, media) in vendor.items():
        app.add_api_route(
            f"/ui/vendor/{name}", _file(path, media), methods=["GET"], include_in_schema=False
        )
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="dashboard")
