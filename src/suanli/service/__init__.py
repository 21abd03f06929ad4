"""The control plane (`suanli serve`): the scheduler core on the real clock, with a database.

    Service(ServiceConfig(...))  storage, submission writer, scheduling loop, backend
    create_app(service)          the FastAPI app (REST API under /v1, /metrics)
    SuanliClient                 the httpx client the CLI uses

See docs/service.md.
"""

from suanli.service.app import ApiProblem, Service, ServiceConfig, create_app
from suanli.service.client import ApiError, SuanliClient

__all__ = ["ApiError", "ApiProblem", "Service", "ServiceConfig", "SuanliClient", "create_app"]
