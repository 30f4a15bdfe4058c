"""Settings: one typed object, read from a YAML file and BASALT_* environment variables, passed in (never global)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .guard.config import GuardrailConfig


class EngineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    context_window: int = Field(default=4096, ge=256)
    max_seqs: int = Field(default=16, ge=1, le=256)
    n_batch: int = Field(default=512, ge=16)
    prefill_chunk: int = Field(default=256, ge=16)
    n_threads: int = Field(default=0, ge=0)
    poll: int | None = Field(default=0, ge=0, le=100)  # llama.cpp worker polling between steps; null: no pool
    max_waiting: int = Field(default=256, ge=0)
    batch_reserve: int = Field(default=2, ge=0)  # slots batch work never takes, kept for interactive requests
    batch_prefill: int = Field(default=16, ge=1)  # batch prompt tokens per decode step at most
    batch_busy_decode: int | None = Field(default=4, ge=1)  # batch sequences a step while interactive ones run
    batch_busy_linger: float = Field(default=0.5, ge=0, le=60)  # seconds those bounds hold after an interactive call
    # Where the local model runs (docs/scale-out.md): in this process, or as Ray Serve replicas that the gateway
    # routes to with prefix affinity. The fields below are read only with `backend: ray`.
    backend: Literal["local", "ray"] = "local"
    address: str | None = None  # a Ray cluster to attach to (host:port, "auto"); None: start one in this process
    app: str = Field(default="basalt-engine", min_length=1, max_length=100)  # the Serve application's name
    deploy: bool = True  # deploy (or update) the application; false: attach to one another gateway deployed
    replicas: int = Field(default=2, ge=1, le=1024)  # fixed replica count, when min/max_replicas are not set
    min_replicas: int | None = Field(default=None, ge=0, le=1024)  # autoscaling bounds (both, or neither)
    max_replicas: int | None = Field(default=None, ge=1, le=1024)
    cpus_per_replica: float = Field(default=1.0, gt=0, le=1024)  # also its llama.cpp threads when n_threads=0
    routing: Literal["prefix", "round_robin"] = "prefix"  # how the gateway picks a replica
    prefix_chars: int = Field(default=256, ge=16, le=65536)  # leading prompt characters the affinity key hashes
    max_imbalance: int = Field(default=4, ge=0, le=4096)  # calls the preferred replica may run beyond the least busy

    @model_validator(mode="after")
    def _bounds(self) -> EngineSettings:
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise ValueError("min_replicas and max_replicas go together (autoscaling bounds)")
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not be above max_replicas")
        return self


class Deployment(BaseModel):
    """A model name served by an upstream provider."""

    model_config = ConfigDict(extra="forbid")
    name: str  # the model name clients send
    provider: str  # a name in basalt.providers.UPSTREAMS: anthropic, openai (any Chat Completions server), ...
    model: str  # the upstream's model id
    base_url: str  # e.g. https://api.anthropic.com, https://api.openai.com/v1, http://vllm:8000/v1
    api_key_env: str | None = None  # the environment variable holding the key (never the key itself)
    timeout: float = Field(default=600, gt=0)
    weight: int = Field(default=1, ge=1)  # share of traffic among deployments of the same name
    max_concurrency: int | None = Field(default=None, ge=1)
    # The upstream keeps a prefix cache (vLLM, llama-server): a name whose deployments all say so routes a call to
    # the one most likely to hold its prompt's prefix, as the Ray-served engine does (docs/scale-out.md).
    prefix_cache: bool = False

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, name: str) -> str:
        from .providers import UPSTREAMS  # here, not at import: settings load before any provider is needed

        if name not in UPSTREAMS:
            raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(UPSTREAMS))}")
        return name


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retries: int = Field(default=2, ge=0)
    backoff: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=8.0, ge=0)
    cooldown: float = Field(default=30.0, ge=0)
    batch_share: float = Field(default=0.5, gt=0, le=1)  # of a deployment's max_concurrency open to batch calls
    batch_concurrency: int = Field(default=8, ge=1)  # batch calls per deployment without max_concurrency
    batch_max_wait: float = Field(default=60.0, ge=0)  # the longest retry-after a batch call waits out


class Price(BaseModel):
    """USD per million tokens. Cache prices default to Anthropic's ratios of the input price."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_read: float | None = Field(default=None, ge=0)  # default: 0.1 x input
    cache_write: float | None = Field(default=None, ge=0)  # default: 1.25 x input
    batch: float = Field(default=1.0, ge=0, le=1)  # the share of these prices a batch item pays (0.5: half price)


class BatchSettings(BaseModel):
    """Batch workers, in every replica: items leased from the shared database, run through the one flow."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True  # run workers in this process (the routes answer either way)
    # Items run at once by this replica; default: twice the local engine's max_seqs (the next items queued ahead),
    # plus 4 per upstream deployment.
    concurrency: int | None = Field(default=None, ge=1, le=4096)
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)  # an item whose holder stopped renewing is retaken
    poll_seconds: float = Field(default=0.5, gt=0, le=60)  # how often an idle worker looks for new items
    sweep_seconds: float = Field(default=5.0, gt=0, le=3600)  # expiry, cancellation and retention passes
    retention_days: float = Field(default=29, gt=0, le=3650)  # results kept after a batch ends, then deleted
    max_requests: int = Field(default=100_000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)


class EvalSettings(BaseModel):
    """Evaluation runs (the OpenAI Evals API): batches of the batch engine, moved on by a driver in every replica."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True  # run the driver in this process (the routes answer either way)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)  # how often the driver looks at runs in progress
    max_items: int = Field(default=10_000, ge=1, le=100_000)  # data-source items in one run
    max_tokens: int = Field(default=256, ge=1, le=32_768)  # a sample's max_completion_tokens when none is given


class ControlSettings(BaseModel):
    """Keys, tenants, limits and metering. With `auth` off, a local single-user server needs no key."""

    model_config = ConfigDict(extra="forbid")
    auth: bool = False
    database: str | None = None  # SQLAlchemy URL (sqlite+aiosqlite:///..., postgresql+asyncpg://...); default in home
    redis: str | None = None  # redis://host:6379/0 shares limit counters between workers and replicas
    key_cache_seconds: float = Field(default=1.0, ge=0)  # how long a replica trusts a checked key (revocation lag)
    instance: str | None = None  # this replica's name in the ledger; default host:port
    # The environment variable holding the server key that seals AWS-style key pairs' secrets (32 bytes, hex or
    # base64); unset: <home>/secret-key, made on first use. Replicas sharing a database must share the key.
    secret_key_env: str = "BASALT_SECRET_KEY"


class MetricsSettings(BaseModel):
    """Prometheus metrics on /metrics (docs/observability.md)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class TracingSettings(BaseModel):
    """OpenTelemetry traces over OTLP/HTTP; off by default, and then free."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4318/v1/traces"  # an OTLP/HTTP collector's traces URL
    headers_env: dict[str, str] = Field(default_factory=dict)  # header name -> environment variable holding its value
    sampling_ratio: float = Field(default=1.0, ge=0.0, le=1.0)  # of the traces Basalt starts; a caller's flag wins
    service_name: str = "basalt"
    capture_content: bool = False  # gen_ai.input.messages / output.messages, after the guardrails masked them


class LogSettings(BaseModel):
    """What the server logs: its level, text or JSON lines, and one access line per request (docs/observability.md)."""

    model_config = ConfigDict(extra="forbid")
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"  # of Basalt's own loggers
    format: Literal["text", "json"] = "text"  # json: one object a line (ts, level, logger, message, ...)
    access_log: bool = True  # one line per request on the `basalt.access` logger, whatever `level` says

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class ObservabilitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings())
    tracing: TracingSettings = Field(default_factory=lambda: TracingSettings())
    logging: LogSettings = Field(default_factory=lambda: LogSettings())


class FileSettings(BaseModel):
    """Where uploaded and produced files (OpenAI Files: batch inputs and outputs) are kept."""

    model_config = ConfigDict(extra="forbid")
    # local: a directory under the home (one machine); database: the control database, in chunks (replicas sharing
    # it). Unset: database when the control database is PostgreSQL, local otherwise.
    store: Literal["local", "database"] | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 8000
    # Server processes sharing the port (uvicorn workers). Each is a full Basalt: its own engine (the local model is
    # loaded once per worker), ledger run and limiter; limits and budgets are exact across workers only with Redis.
    workers: int = Field(default=1, ge=1, le=64)
    home: Path = Field(default_factory=lambda: Path(os.environ.get("BASALT_HOME") or Path.home() / ".basalt"))
    local_model: str = "smollm2-135m-instruct"  # a model in the store; pulled on first start when it is the bundled one
    serve_local: bool = True
    aliases: dict[str, str] = Field(default_factory=dict)  # extra model names, e.g. claude-3-5-haiku-latest: smollm2
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Host names answered (any port; "*" any); default: localhost, 127.0.0.1 and [::1] when `host` is a loopback
    # address, any otherwise. Other names get a 421, which defeats DNS rebinding (docs/architecture.md, HTTP edge).
    allowed_hosts: list[str] | None = None
    cors_origins: list[str] = Field(default_factory=list)  # web pages allowed to call, e.g. http://localhost:3000
    header_timeout: float = Field(default=10.0, gt=0, le=3600)  # seconds for a request's headers to arrive
    body_timeout: float = Field(default=60.0, gt=0, le=3600)  # seconds for its whole body, once the headers are in
    engine: EngineSettings = Field(default_factory=lambda: EngineSettings())
    deployments: list[Deployment] = Field(default_factory=list)  # several with one name: balanced, with fallbacks
    router: RouterSettings = Field(default_factory=lambda: RouterSettings())
    control: ControlSettings = Field(default_factory=lambda: ControlSettings())
    prices: dict[str, Price] = Field(default_factory=dict)  # by model name as clients send it
    guardrails: list[GuardrailConfig] = Field(default_factory=list)  # see docs/guardrails.md
    model_guardrails: dict[str, str] = Field(default_factory=dict)  # model name -> "guardrail:version" always applied
    observability: ObservabilitySettings = Field(default_factory=lambda: ObservabilitySettings())
    files: FileSettings = Field(default_factory=lambda: FileSettings())
    batches: BatchSettings = Field(default_factory=lambda: BatchSettings())
    evals: EvalSettings = Field(default_factory=lambda: EvalSettings())

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise SystemExit(f"basalt: cannot read config {path}: {exc}") from None
            if not isinstance(data, dict):
                raise SystemExit(f"basalt: config {path} must be a mapping")
        for key in ("host", "port", "home", "local_model", "workers"):
            value = os.environ.get(f"BASALT_{key.upper()}")
            if value:
                data[key] = value
        control = data.setdefault("control", {})
        for key, var in (("database", "BASALT_DATABASE_URL"), ("redis", "BASALT_REDIS_URL"), ("auth", "BASALT_AUTH")):
            value = os.environ.get(var)
            if value and isinstance(control, dict):
                control[key] = value
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            raise SystemExit(f"basalt: invalid configuration: {exc}") from None
        return settings

    def database_url(self) -> str:
        return self.control.database or f"sqlite+aiosqlite:///{self.home / 'basalt.db'}"
