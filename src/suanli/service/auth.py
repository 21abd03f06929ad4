"""Bearer API tokens and the three roles.

* **operator**  runs the platform: sites, pools, tenants, quotas, policies, every job;
* **tenant**    submits jobs and reads and cancels its own (another tenant's job is a 404,
                so its existence does not leak);
* **regulator** reads the audit ledger and approves or denies jobs waiting for approval,
                nothing else.

Only the SHA-256 of a token is stored; verified tokens are cached for a short time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from suanli.errors import SuanliError
from suanli.service.schemas import Role
from suanli.service.storage.repo import Store, token_hash

CACHE_S = 30.0


class AuthError(SuanliError):
    """No valid token (401) or a role that may not do this (403)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    tenant: str | None
    token_id: str

    @property
    def actor(self) -> str:
        who = f"tenant:{self.tenant}" if self.tenant else self.role.value
        return f"{who}/{self.token_id}"

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise AuthError(403, f"this needs the {allowed} role; the token has {self.role.value}")

    def may_see_tenant(self, tenant: str) -> bool:
        return self.role is Role.OPERATOR or self.tenant == tenant


class Authenticator:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, Principal]] = {}

    def __call__(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError(
                401,
                "send an API token: 'Authorization: Bearer <token>' "
                "(create one with `suanli admin create-token`)",
            )
        hashed = token_hash(authorization[7:].strip())
        hit = self._cache.get(hashed)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self.store.token(hashed)
        if row is None:
            raise AuthError(401, "unknown API token")
        principal = Principal(Role(row["role"]), row["tenant"], hashed[:12])
        self._cache[hashed] = (now + CACHE_S, principal)
        return principal
