"""Who is calling: a key and its project, or nobody in particular when auth is off."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..errors import PermissionDenied
from .records import ApiKey, Project

# Endpoints a key's scopes can name. "admin" is only ever granted to admin keys.
ENDPOINTS = (
    "messages", "chat.completions", "completions", "count_tokens", "models", "usage", "guardrails", "batches", "evals",
    "admin",
)  # fmt: skip


@dataclass(frozen=True)
class Principal:
    key: ApiKey | None = None
    project: Project | None = None

    @property
    def anonymous(self) -> bool:
        return self.key is None

    @property
    def admin(self) -> bool:
        # With auth off there is one user, who owns everything.
        return self.key is None or self.key.admin

    @property
    def project_id(self) -> str | None:
        return self.project.id if self.project else None

    def require_endpoint(self, endpoint: str) -> None:
        if self.admin:
            return
        if endpoint == "admin":
            raise PermissionDenied("This endpoint needs an admin key.")
        assert self.key is not None
        allowed = self.key.endpoints
        if allowed is not None and endpoint not in allowed:
            raise PermissionDenied(
                f"API key {self.key.id} may not call {endpoint}; its scopes allow: {', '.join(allowed) or 'nothing'}."
            )

    def require_model(self, model: str) -> None:
        if self.key is None or self.key.models is None:
            return
        if not any(fnmatch.fnmatchcase(model, pattern) for pattern in self.key.models):
            raise PermissionDenied(
                f"API key {self.key.id} may not use model {model!r}; it may use: {', '.join(self.key.models)}.",
                param="model",
            )
