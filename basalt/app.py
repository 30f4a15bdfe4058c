"""Builds the ASGI app: the dialects' routes over the platform's flow, with errors in each caller's dialect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from . import console, guard
from .config import Settings
from .control import admin as control_admin
from .dialects import (
    anthropic,
    anthropic_batches,
    bedrock,
    openai,
    openai_batches,
    openai_completions,
    openai_evals,
    openai_files,
    tokenizer,
)
from .dialects.anthropic import json_response
from .dialects.errors import retry_headers
from .dialects.registry import dialect_for
from .errors import BasaltError, InternalError, InvalidRequest, NotFound, RequestTimedOut
from .http.edge import Edge, EdgeObserver
from .http.guards import BrowserGuard, default_hosts
from .http.plumbing import (
    ERROR_TYPE,
    PRINCIPAL,
    RequestIdMiddleware,
    request_id,
    until_disconnected,
    with_request_id,
)
from .observe.access import AccessLog
from .observe.logs import Redactor, secret_values
from .observe.metrics import CONTENT_TYPE
from .openapi import complete as complete_openapi
from .wiring import Platform

log = logging.getLogger("basalt")
# The generation routes: called directly, past Starlette's middleware stack and router (see BasaltApp).
DIRECT_PATHS = ("/v1/messages", "/v1/chat/completions")
# Bedrock's Converse routes, by their last segment under /model/{modelId}/ (the model id is part of the path).
DIRECT_BEDROCK = ("converse", "converse-stream")
Endpoint = Callable[[Request], Awaitable[Response]]


def error_response(request: Request, error: BasaltError) -> Response:
    request.scope[ERROR_TYPE] = error.error_type  # for the access log: every error answer is made here
    dialect, rid = dialect_for(request.url.path), request_id(request)
    headers = {**retry_headers(error), **dialect.rate_limit_headers(error.limits), **dialect.error_headers(error, rid)}
    if error.status >= 500 and error.status != 529:
        headers.setdefault("x-should-retry", "true")  # unless the error says a retry cannot help
    return json_response(dialect.error_body(error, rid), dialect.status(error), headers)


class BasaltApp(FastAPI):
    """FastAPI, except that POSTs to the generation routes go straight to their endpoints, with the request id and
    the error handling the middleware would have given them: the middleware stack and route matching cost about
    0.13 ms a request, a tenth of the gateway's whole overhead budget. The endpoints stay declared on the routers.
    Each runs under one disconnect watcher (`until_disconnected`), so a client that leaves at any wait after
    admission cancels the upstream call."""

    direct: dict[str, APIRoute]
    direct_bedrock: dict[str, APIRoute]
    guard: BrowserGuard
    edge: Edge | None = None  # what watches each request end (access log, request metrics); None: nothing to pay

    def _direct(self, path: str) -> APIRoute | None:
        found = self.direct.get(path)
        if found is None and path.startswith("/model/"):
            found = self.direct_bedrock.get(path.rpartition("/")[2])
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
        elif self.edge is not None:
            await self.edge.serve(self._serve, scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        verdict = self.guard.screen(scope)  # Host, Origin and Content-Type, for every route
        if verdict is not None:
            await refuse(scope, receive, send, verdict)
            return
        send = self.guard.readable(scope, send)
        route = self._direct(scope["path"]) if scope["method"] == "POST" else None
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["route"] = route  # as Starlette's router would have set it
        endpoint: Endpoint = route.endpoint
        send = with_request_id(scope, send)
        request = Request(scope, receive)

        async def handle() -> None:
            try:
                response = await endpoint(request)
            except BasaltError as exc:
                response = error_response(request, exc)
            except Exception:
                log.exception("unhandled error on %s", scope["path"])
                response = error_response(request, InternalError("Internal server error"))
            await response(scope, receive, send)

        await until_disconnected(receive, handle)


def late_body(scope: Scope, seconds: float) -> Response:
    """The 408 for a request whose body did not arrive in time (see http/deadlines.py), in its route's dialect."""
    error = RequestTimedOut(f"The request body did not arrive within {seconds:g} s; the connection is closed.")
    return error_response(Request(scope), error)


async def refuse(scope: Scope, receive: Receive, send: Send, verdict: BasaltError | Response) -> None:
    send = with_request_id(scope, send)
    response = verdict if isinstance(verdict, Response) else error_response(Request(scope, receive), verdict)
    await response(scope, receive, send)


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    """The app; it starts the platform (loading the local model) on startup unless given one already started."""
    settings = settings or Settings()
    owned = platform is None
    platform_ = platform or Platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            platform_.start()
        metrics = platform_.metrics
        fresh = asyncio.create_task(metrics.keep_fresh()) if metrics and metrics.directory else None
        platform_.batches.start()  # this replica's batch worker, on the serving event loop
        platform_.evals.start()  # and its eval driver
        try:
            yield
        finally:
            if fresh is not None:
                fresh.cancel()
            await platform_.aclose()
            if owned:
                platform_.stop()
            if metrics is not None:
                metrics.close()

    app = BasaltApp(title="Basalt", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.platform = platform_
    dialects = [anthropic.build_router(platform_), openai.build_router(platform_), bedrock.build_router(platform_)]
    for router in dialects:
        app.include_router(router)
    app.include_router(openai_completions.build_router(platform_))
    app.include_router(tokenizer.build_router(platform_))
    app.include_router(openai_files.build_router(platform_))
    app.include_router(anthropic_batches.build_router(platform_))
    app.include_router(openai_batches.build_router(platform_))
    app.include_router(openai_evals.build_router(platform_))
    app.include_router(control_admin.build_router(platform_.control, platform_.guardrails))

    async def may_apply_guardrails(request: Request) -> None:
        request.scope[PRINCIPAL] = await platform_.control.authenticate(request.headers, "guardrails")

    app.include_router(guard.build_router(platform_.guardrails, may_apply_guardrails))
    app.include_router(console.build_router(platform_))  # the web console and its few routes
    app.add_middleware(RequestIdMiddleware)
    hosts = settings.allowed_hosts if settings.allowed_hosts is not None else default_hosts(settings.host)
    app.guard = BrowserGuard(hosts, settings.cors_origins)
    app.direct = {
        route.path: route
        for route in (r for router in dialects for r in router.routes)
        if isinstance(route, APIRoute) and route.path in DIRECT_PATHS and "POST" in (route.methods or ())
    }
    app.direct_bedrock = {
        route.path.rpartition("/")[2]: route
        for route in (r for router in dialects for r in router.routes)
        if isinstance(route, APIRoute) and route.path.startswith("/model/") and route.path.endswith(DIRECT_BEDROCK)
    }

    watchers: list[EdgeObserver] = []
    if settings.observability.logging.access_log:
        watchers.append(AccessLog(Redactor(secret_values(settings))))
    if platform_.metrics is not None:
        watchers.append(platform_.metrics.requests_observer())
    app.edge = Edge(watchers) if watchers else None

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(BasaltError)
    async def on_basalt_error(request: Request, exc: BasaltError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return error_response(request, InvalidRequest("; ".join(parts)))

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(request, NotFound(f"Not found: {request.method} {request.url.path}"))
        error = InvalidRequest(
            f"{request.method} is not allowed on {request.url.path}" if exc.status_code == 405 else str(exc.detail)
        )
        response = error_response(request, error)
        response.status_code = exc.status_code
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route on the path; Allow names them all
            response.headers["allow"] = ", ".join(allowed_methods(app, request.scope))
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        response = error_response(request, InternalError("Internal server error"))
        # Starlette answers this from its outermost middleware, outside RequestIdMiddleware: add the ids here.
        rid = request_id(request)
        if rid:
            response.headers["request-id"] = response.headers["x-request-id"] = rid
        return response

    @app.get("/health")
    async def health() -> Any:
        return json_response({"status": "ok"})

    metrics = platform_.metrics
    if metrics is not None:

        @app.get("/metrics")
        async def scrape() -> Response:
            return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    methods: set[str] = set()
    for route in _leaves(app.routes):
        if isinstance(route, APIRoute) and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def _leaves(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (Basalt includes its routers without a prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _leaves(included.routes) if included is not None else (route,)
