"""The web console at /console: static assets shipped inside the package (no build step, no CDN) and the few routes
it needs beyond the public and admin APIs (api.py). The page talks to Basalt only through those APIs, with the
signed-in key in a header; the server checks every scope."""

from __future__ import annotations

from fastapi import APIRouter

from ..wiring import Platform
from . import api, assets

__all__ = ["CSP", "build_router"]
CSP = assets.CSP


def build_router(platform: Platform) -> APIRouter:
    router = api.build_router(platform)
    router.include_router(assets.build_router())
    return router
