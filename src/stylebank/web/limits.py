"""What keeps a server safe to leave running: a cap on each request's body, counted while it arrives, and one
stylization at a time behind a short queue, so that a burst of requests costs bounded memory."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


class Rejected(Exception):
    """A request refused with an HTTP status and a message in plain words (sent as JSON ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status, headers=self.headers)


def too_large(limit: int) -> Rejected:
    return Rejected(413, f"the upload is larger than this server's limit of {limit / 1e6:g} MB "
                         "(stylebank serve --max-upload-mb)")


class BodyLimit:
    """ASGI middleware: a request whose declared Content-Length is above ``limit`` bytes is refused (413) before
    its body is read; one that sends more than that without declaring it fails with ``too_large`` as the byte
    that crosses the limit arrives, so no more than ``limit`` bytes of a body are ever read."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            problem = too_large(self.limit) if declared.isdigit() else Rejected(400, "bad Content-Length header")
            await problem.response()(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


class Gate:
    """One piece of work at a time, with at most ``queue`` requests waiting for it; beyond that, 503 at once with
    a Retry-After hint. Admission (in the event loop) comes before a request's body is parsed, so a refused body
    is dropped as it arrives and at most 1 + ``queue`` bodies are held at once; the work itself runs in a worker
    thread under a thread lock, so that it stays one at a time even when a client that gave up leaves its work
    running."""

    def __init__(self, queue: int, retry_after: int = 2):
        self.capacity = 1 + queue
        self.admitted = 0
        self.retry_after = retry_after
        self.turn = threading.Lock()

    @asynccontextmanager
    async def admission(self, request: Request | None = None) -> AsyncIterator[None]:
        """Inside: the request is admitted. Refused, its body is read and dropped first (at most the body limit):
        a client still sending its upload then reads the 503 rather than a broken connection."""
        if self.admitted >= self.capacity:
            if request is not None:
                async for _ in request.stream():
                    pass
            raise Rejected(503, f"busy: {self.admitted} requests are being served or waiting; try again in "
                                f"{self.retry_after} s", {"Retry-After": str(self.retry_after)})
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, work: Callable[..., T], *args) -> T:
        """``work(*args)`` in a worker thread, when its turn comes."""
        def in_turn() -> T:
            with self.turn:
                return work(*args)

        return await run_in_threadpool(in_turn)
