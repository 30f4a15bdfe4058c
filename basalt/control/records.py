"""The control plane's records, as plain frozen dataclasses that cross every boundary of the room."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

LIMIT_FIELDS = ("rpm", "input_tpm", "output_tpm", "max_concurrency", "daily_budget_usd", "monthly_budget_usd")


@dataclass(frozen=True)
class Limits:
    """Per-minute rates, concurrent requests and USD budgets; None means no limit."""

    rpm: int | None = None
    input_tpm: int | None = None
    output_tpm: int | None = None
    max_concurrency: int | None = None
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None

    @classmethod
    def of(cls, row: Any) -> Limits:
        return cls(**{name: getattr(row, name) for name in LIMIT_FIELDS})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Project:
    id: str
    org_id: str
    name: str
    created_at: float
    limits: Limits = field(default_factory=Limits)
    guardrail: str | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    org_id: str
    project_id: str | None
    name: str
    hint: str
    admin: bool
    models: tuple[str, ...] | None  # glob patterns; None: every model
    endpoints: tuple[str, ...] | None  # None: every endpoint but the admin API
    expires_at: float | None
    revoked_at: float | None
    created_at: float
    limits: Limits = field(default_factory=Limits)
    guardrail: str | None = None

    def public(self) -> dict[str, Any]:
        """What the admin API and the CLI show: everything but the secret, which is not stored anyway."""
        return {
            "id": self.id,
            "org_id": self.org_id,
            "project_id": self.project_id,
            "name": self.name,
            "hint": self.hint,
            "admin": self.admin,
            "models": list(self.models) if self.models is not None else None,
            "endpoints": list(self.endpoints) if self.endpoints is not None else None,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "created_at": self.created_at,
            "limits": self.limits.as_dict(),
            "guardrail": self.guardrail,
        }
