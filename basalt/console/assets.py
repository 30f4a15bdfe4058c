"""Serves the console's files from the package, each under a strict Content-Security-Policy: scripts and styles
only from this server (no inline script, no eval), requests only to this server, no framing."""

from __future__ import annotations

import mimetypes
from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from ..errors import NotFound

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",  # revalidate, so an upgraded package's files are used at once
}
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def load() -> dict[str, tuple[bytes, str]]:
    """Every file under static/, read once at start-up: a fixed table, so no request path reaches the file system."""
    found: dict[str, tuple[bytes, str]] = {}
    pending = [("", files("basalt.console") / "static")]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                pending.append((name + "/", entry))
            else:
                suffix = "." + entry.name.rpartition(".")[2]
                kind = TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                found[name] = (entry.read_bytes(), kind)
    return found


def build_router() -> APIRouter:
    router = APIRouter()
    table = load()

    def serve(name: str) -> Response:
        found = table.get(name)
        if found is None:
            raise NotFound(f"Not found: /console/assets/{name[:200]}")
        body, kind = found
        charset = "; charset=utf-8" if kind.startswith("text/") else ""
        return Response(body, headers=HEADERS, media_type=kind + charset)

    @router.get("/console", include_in_schema=False)
    async def index() -> Response:
        return serve("index.html")

    @router.get("/console/", include_in_schema=False)
    async def slash() -> Response:
        return RedirectResponse("/console", 308)

    @router.get("/console/assets/{name:path}", include_in_schema=False)
    async def asset(name: str) -> Response:
        return serve(name)

    return router
