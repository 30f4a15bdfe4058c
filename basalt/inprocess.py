"""Basalt inside the caller's process: the same service and app, reached by the official SDKs with no port.

    from basalt import InProcess

    with InProcess() as basalt:
        client = basalt.anthropic()          # an anthropic.Anthropic
        reply = client.messages.create(model="smollm2", max_tokens=64, messages=[...])
        oai = basalt.openai()                # an openai.OpenAI

The SDK clients talk HTTP semantics to an httpx transport that calls the ASGI app directly, streaming included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2 as httpx

from .app import create_app
from .config import Settings
from .http.guards import default_hosts
from .wiring import Platform

IN_PROCESS_HOST = "basalt.in-process"
BASE_URL = f"http://{IN_PROCESS_HOST}"


class _Exchange:
    """One request sent to the ASGI app, with its response headers and body chunks as they come."""

    def __init__(self, app: Any, request: httpx.Request, body: bytes) -> None:
        self.headers_ready: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.gone = asyncio.Event()
        self._body = body
        self._sent_body = False
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": ("basalt.in-process", 80),
        }
        self.task = asyncio.ensure_future(self._run(app, scope))

    async def _run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._receive, self._send)
        except Exception as exc:
            if not self.headers_ready.done():
                self.headers_ready.set_exception(exc)
        finally:
            self.chunks.put_nowait(None)

    async def _receive(self) -> dict[str, Any]:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.headers_ready.set_result((message["status"], list(message.get("headers", []))))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                self.chunks.put_nowait(message["body"])
            if not message.get("more_body", False):
                self.gone.set()

    def close(self) -> None:
        self.gone.set()


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(self.app, request, await request.aread())
        try:
            status, headers = await exchange.headers_ready
        except BaseException:
            exchange.close()  # the caller gave up before the status: to the app, the client has left
            raise
        return httpx.Response(status, headers=headers, stream=_AsyncBody(exchange), request=request)


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.exchange.chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self.exchange.close()


class InProcessTransport(httpx.BaseTransport):
    """The synchronous transport: the app runs on the InProcess event loop thread."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def start() -> tuple[_Exchange, int, list[tuple[bytes, bytes]]]:
            exchange = _Exchange(self.app, request, body)
            status, headers = await exchange.headers_ready
            return exchange, status, headers

        exchange, status, headers = self._call(start())
        return httpx.Response(status, headers=headers, stream=_SyncBody(exchange, self), request=request)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, transport: InProcessTransport) -> None:
        self.exchange = exchange
        self.transport = transport

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.transport._call(self.exchange.chunks.get())) is not None:
            yield chunk

    def close(self) -> None:
        self.transport.loop.call_soon_threadsafe(self.exchange.close)


class InProcess:
    """Runs the Basalt service in this process; hands out official SDK clients wired to it."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        if settings.control.instance is None:
            # Not a listening server, so host:port does not name it; a crashed in-process run is not reconciled.
            control = settings.control.model_copy(update={"instance": f"in-process:{os.getpid()}:{id(self):x}"})
            settings = settings.model_copy(update={"control": control})
        if settings.allowed_hosts is None:  # no socket: only this process reaches it, by the name below
            settings = settings.model_copy(update={"allowed_hosts": [*default_hosts(settings.host), IN_PROCESS_HOST]})
        self.settings = settings
        self.platform = Platform(self.settings)
        self.app = create_app(self.settings, self.platform)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="basalt-in-process", daemon=True)
        self._started = False

    def start(self) -> InProcess:
        if not self._started:
            self.platform.start()
            self._thread.start()
            self.loop.call_soon_threadsafe(self.platform.batches.start)  # its batch worker, as a server has one
            self.loop.call_soon_threadsafe(self.platform.evals.start)  # and its eval driver
            self._started = True
        return self

    def close(self) -> None:
        if self._started:
            asyncio.run_coroutine_threadsafe(self.platform.aclose(), self.loop).result()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.platform.stop()
            self._started = False

    def __enter__(self) -> InProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def http_client(self) -> httpx.Client:
        return httpx.Client(transport=InProcessTransport(self.app, self.loop), base_url=BASE_URL, timeout=600)

    def async_http_client(self) -> httpx.AsyncClient:
        """For use on the caller's own event loop."""
        return httpx.AsyncClient(transport=AsyncInProcessTransport(self.app), base_url=BASE_URL, timeout=600)

    def anthropic(self, **kwargs: Any) -> Any:
        import anthropic

        kwargs.setdefault("api_key", "in-process")
        return anthropic.Anthropic(base_url=BASE_URL, http_client=self.http_client(), **kwargs)

    def openai(self, **kwargs: Any) -> Any:
        import openai

        kwargs.setdefault("api_key", "in-process")
        return openai.OpenAI(base_url=BASE_URL + "/v1", http_client=self.http_client(), **kwargs)

    def async_anthropic(self, **kwargs: Any) -> Any:
        import anthropic

        kwargs.setdefault("api_key", "in-process")
        return anthropic.AsyncAnthropic(base_url=BASE_URL, http_client=self.async_http_client(), **kwargs)

    def async_openai(self, **kwargs: Any) -> Any:
        import openai

        kwargs.setdefault("api_key", "in-process")
        return openai.AsyncOpenAI(base_url=BASE_URL + "/v1", http_client=self.async_http_client(), **kwargs)

    @staticmethod
    @contextlib.contextmanager
    def maybe(base_url: str | None) -> Iterator[Any]:
        """An Anthropic client for a running server at base_url, or for an in-process service when None."""
        if base_url:
            import anthropic

            yield anthropic.Anthropic(base_url=base_url, api_key="local")
            return
        with InProcess() as basalt:
            yield basalt.anthropic()
