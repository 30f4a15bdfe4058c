"""The control plane's front: authentication, admission and the admin operations, over per-event-loop resources.

Database engines, Redis clients and the ledger writer belong to the event loop that uses them; a server has one loop,
but an in-process Basalt may be called from several, so each loop gets its own set, created on first use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..canonical import MessagesRequest
from ..config import Settings
from ..errors import BasaltError, InternalError, Overloaded
from ..files import private_dir
from ..wire.sigv4 import SignedRequest
from . import aws_keys, sealing
from .admission import CallFacts, Context, Ticket, admit
from .auth import Authenticator
from .budgets import BudgetBook
from .journal import Journal
from .ledger import Ledger, replay
from .limiter import Limiter, MemoryLimiter, RedisLimiter
from .prices import TokenCounts, cost
from .principal import Principal
from .records import ApiKey, Project
from .store import Store

log = logging.getLogger("basalt.control")
T = TypeVar("T")


class ControlPlane:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        control = settings.control
        self.url = settings.database_url()
        self.instance = control.instance or f"{socket.gethostname()}:{settings.port}"
        self.auth = Authenticator(control.auth, self._lookup, control.key_cache_seconds, self._access_key)
        self._box: sealing.SecretBox | None = None
        self._memory = MemoryLimiter() if not control.redis else None  # shared by every loop of this process
        self._contexts: dict[asyncio.AbstractEventLoop, tuple[Store, Context]] = {}
        self.admin_key_file: Path | None = None
        self.journal_dir = settings.home / "ledger"

    # Start-up ---------------------------------------------------------------------------------------------------

    def prepare(self) -> list[dict[str, Any]]:
        """Migrate the schema, bootstrap the admin key, reconcile reservations a killed process left open; returns
        the guardrail definitions added through the admin API, read in the same pass."""
        private_dir(self.settings.home)  # the database, admin key and journal inside are the owner's only
        private_dir(self.journal_dir)
        try:  # a server key given but unreadable fails the start, not the first signed request
            self.secret_box(create=False)
        except sealing.SealError as exc:
            raise SystemExit(f"basalt: {exc}") from None
        return run_in_thread(self._prepare())

    async def _prepare(self) -> list[dict[str, Any]]:
        store = Store(self.url).connect()
        try:
            await store.migrate()
            if self.settings.control.auth and not await store.has_admin_key():
                await self._bootstrap_admin(store)
            replayed = await replay(store, self.journal_dir, self.instance)
            if replayed.rows:
                log.warning(
                    "moved %d ledger records that dead runs left in their journals into the database", replayed.rows
                )
            # Rows of a run still alive (another process of this instance) or whose journal could not be replayed
            # yet may still be settled: they are left as they are.
            await self._reconcile(store, {*replayed.live, *replayed.failed})
            return await store.guardrail_definitions()
        finally:
            await store.close()

    async def _bootstrap_admin(self, store: Store) -> None:
        _, secret = await store.create_key("bootstrap admin", None, admin=True)
        path = private_dir(self.settings.home) / "admin-key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        self.admin_key_file = path
        log.warning("auth is on and there was no admin key: created one, readable only by you, in %s", path)

    async def _reconcile(self, store: Store, untouchable: set[str | None]) -> None:
        limiter = RedisLimiter(self.settings.control.redis) if self.settings.control.redis else None
        rows = [r for r in await store.open_usage(self.instance) if r["run"] not in untouchable]
        now = time.time()
        settled = []
        for row in rows:
            tokens = TokenCounts(row["reserved_input_tokens"], row["output_tokens"])
            spent = cost(self.settings.prices.get(row["model"]), tokens, row.get("batch_id") is not None)
            settled.append(
                {
                    "request_id": row["request_id"],
                    "status": "interrupted",
                    "input_tokens": tokens.input,
                    "cost_usd": spent,
                    "finished_at": now,
                    "detail": "the server stopped before the request finished; input tokens are the reservation's "
                    "estimate and output tokens those counted until the last checkpoint",
                }
            )
            if limiter is not None:  # shared budget counters still hold the reserved cost
                await _correct_spend(limiter, row, spent - row["reserved_cost_usd"])
        if settled:
            await store.write_usage([], settled)
            log.warning("reconciled %d requests left open by a previous run of %s", len(settled), self.instance)
        if limiter is not None:
            await limiter.close()

    # Per request ------------------------------------------------------------------------------------------------

    async def authenticate(self, headers: Mapping[str, str], endpoint: str | None) -> Principal:
        """The caller, allowed `endpoint`; None checks no scope (any valid key may ask who it is: GET /v1/whoami)."""
        try:
            principal = await self.auth.authenticate(headers)
        except BasaltError:
            raise
        except Exception as exc:
            raise _unavailable("the key store", exc) from None
        if endpoint is not None:
            principal.require_endpoint(endpoint)
        return principal

    async def authenticate_sigv4(
        self, method: str, path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes, endpoint: str
    ) -> Principal:
        """The caller of a request signed with an access key pair (the Bedrock dialect): `path` and `query` exactly
        as sent (the ASGI scope's raw_path and query_string, still percent-encoded), every header with repeats
        (`request.headers.items()`), the whole body. Refusals are 403s naming their AWS error type."""
        request = SignedRequest(method, path, query, headers, body)
        try:
            principal = await self.auth.authenticate_sigv4(request)
        except BasaltError:
            raise
        except Exception as exc:
            raise _unavailable("the key store", exc) from None
        principal.require_endpoint(endpoint)
        return principal

    async def principal_of(self, key_id: str | None) -> Principal:
        """The principal of a key id, checked now (see Authenticator.principal_of)."""
        try:
            return await self.auth.principal_of(key_id)
        except BasaltError:
            raise
        except Exception as exc:
            raise _unavailable("the key store", exc) from None

    def secret_box(self, create: bool) -> sealing.SecretBox | None:
        """The server key's box, once found (issuing a pair may create the key file; verifying never does)."""
        if self._box is None:
            self._box = sealing.load(self.settings.home, self.settings.control.secret_key_env, create=create)
        return self._box

    async def issue_access_key(self, key: ApiKey) -> aws_keys.AccessKeyPair:
        box = self.secret_box(create=True)
        assert box is not None
        return await aws_keys.issue(self.store(), box, key)

    async def admit(
        self,
        principal: Principal,
        request: MessagesRequest,
        endpoint: str,
        request_id: str,
        facts: CallFacts | None = None,
    ) -> Ticket:
        try:
            return await admit(self.context(), principal, request, endpoint, request_id, facts)
        except BasaltError:
            raise
        except Exception as exc:
            raise _unavailable("the rate limiter or budget store", exc) from None

    def ledgers(self) -> list[Ledger]:
        """The ledger writers of this process, one per event loop that admitted a call (for the metrics)."""
        return [ctx.ledger for _, ctx in list(self._contexts.values())]

    def store(self) -> Store:
        return self._resources()[0]

    def context(self) -> Context:
        return self._resources()[1]

    def _resources(self) -> tuple[Store, Context]:
        loop = asyncio.get_running_loop()
        found = self._contexts.get(loop)
        if found is None:
            store = Store(self.url).connect()
            limiter: Limiter = self._memory or RedisLimiter(self.settings.control.redis or "")
            ledger = Ledger(store, Journal(self.journal_dir, self.instance))
            ctx = Context(limiter, ledger, BudgetBook(limiter, store), self.settings.prices, self.instance)
            found = self._contexts[loop] = (store, ctx)
        return found

    async def _lookup(self, key_id: str) -> tuple[ApiKey, str, Project | None] | None:
        store = self.store()
        found = await store.get_key(key_id)
        if found is None:
            return None
        key, secret_hash = found
        project = await store.find_project(key.project_id) if key.project_id else None
        return key, secret_hash, project

    async def _access_key(self, access_key_id: str) -> tuple[str, str] | None:
        found = await self.store().get_access_key(access_key_id)
        if found is None:
            return None
        key_id, sealed = found
        try:
            box = self.secret_box(create=False)
            if box is None:
                raise sealing.SealError(
                    f"access key {access_key_id} is stored sealed, but this server has no key to open it: set "
                    f"${self.settings.control.secret_key_env} or copy {sealing.KEY_FILE} from the replica that made it "
                    f"into {self.settings.home}"
                )
            return key_id, box.open(sealed, access_key_id)
        except sealing.SealError as exc:
            # The server's configuration, not the caller's mistake: a 500 that says so, and the operator's details
            # in the log (never the secret, which was not opened).
            log.error("cannot verify a SigV4 request: %s", exc)
            raise InternalError(
                f"Basalt cannot open the stored secret of access key {access_key_id}: its server key differs from "
                "the one that sealed it; the server log says more."
            ) from None

    async def close(self) -> None:
        """Flush and close this loop's resources."""
        found = self._contexts.pop(asyncio.get_running_loop(), None)
        if found is None:
            return
        store, ctx = found
        if ctx.settling:
            await asyncio.gather(*ctx.settling, return_exceptions=True)
        await ctx.ledger.close()
        if ctx.limiter is not self._memory:
            await ctx.limiter.close()
        await store.close()


def _unavailable(what: str, exc: Exception) -> Overloaded:
    """A database or Redis that cannot be reached: a retryable 529/503, never a 500, and nothing sent upstream."""
    log.error("%s is unavailable: %s", what, exc)
    message = f"Basalt cannot reach {what} right now, so the request was not sent; retry shortly."
    return Overloaded(message, retry_after=1)


async def _correct_spend(limiter: Limiter, row: dict[str, Any], delta: float) -> None:
    if delta == 0:
        return
    started = time.gmtime(row["started_at"])
    day, month = time.strftime("%Y-%m-%d", started), time.strftime("%Y-%m", started)
    for owner, ref in (("key", row["key_id"]), ("project", row["project_id"])):
        if ref:
            names = [f"spend:{owner}:{ref}:{day}", f"spend:{owner}:{ref}:{month}"]
            current = await limiter.get_spend(names)
            # Only counters that still exist: a vanished one is seeded from the (now settled) ledger when needed.
            live = [n for n, v in zip(names, current, strict=True) if v]
            if live:
                await limiter.add_spend(live, delta, 33 * 86400.0)


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop in another thread (callers may be inside a loop)."""
    result: list[T] = []
    error: list[BaseException] = []

    def main() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=main, name="basalt-control-prepare")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
