"""The operations dashboard: static pages (HTML, CSS, JavaScript; no build step, no CDN)
served by the control plane's FastAPI app under ``/ui/``.

The pages call the service's own API (``/v1``) with the user's bearer token. plotly.js comes
from the installed ``plotly`` Python package (MIT licence, see its ``LICENSE.txt``) and the
world base map from ``suanli/data/geo``, so the dashboard works offline. See docs/dashboard.md.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(resources.files("suanli") / "web" / "static"))
WORLD = Path(str(resources.files("suanli") / "data" / "geo" / "world_110m.json"))


def plotly_js() -> Path:
    """plotly.min.js as shipped in the plotly Python package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly.min.js is missing from the plotly package")
    return path


def _file(path: Path, media: str) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(
            path, media_type=media, headers={"Cache-Control": "public, max-age=86400"}
        )

    return serve


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/`` redirects there)."""
    plotly_path = plotly_js()

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    vendor = {
        "plotly.min.js": (plotly_path, "text/javascript"),
        "world_110m.json": (WORLD, "application/json"),
    }
    for name, (path, media) in vendor.items():
        app.add_api_route(
            f"/ui/vendor/{name}", _file(path, media), methods=["GET"], include_in_schema=False
        )
    app.mount("/ui", StaticFiles(directory=STATIC, html=True), name="dashboard")
