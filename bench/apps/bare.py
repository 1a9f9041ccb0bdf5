"""The ceiling: a bare ASGI app answering every request with the same small JSON.

Served by bench/run with the same uvicorn options as every other server; nothing an
application can do on this machine answers faster, so each figure is reported as a ratio to it.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

BODY = b'{"message":"Hello World"}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def lifespan(
    receive: Receive,
    send: Send,
    on_shutdown: Callable[[], object] = lambda: None,
    on_startup: Callable[[], object] = lambda: None,
) -> None:
    """Answer the ASGI lifespan protocol (also for the floors, bench/apps/floor.py and
    read_floor.py), calling on_startup and on_shutdown (awaited if they are async)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await _call(on_startup)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _call(on_shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _call(hook: Callable[[], object]) -> None:
    done = hook()
    if inspect.isawaitable(done):
        await done


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol, and every HTTP request with BODY."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
