"""Storage of the control plane: tables, migrations and the repository."""

from suanli.service.storage.db import default_db_url, is_sqlite, make_engine, migrate, normalize_url
from suanli.service.storage.repo import Store, token_hash

__all__ = [
    "Store",
    "default_db_url",
    "is_sqlite",
    "make_engine",
    "migrate",
    "normalize_url",
    "token_hash",
]
