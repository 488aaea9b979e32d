"""Request bodies read with a limit: refused as soon as they are known to be too large."""

from __future__ import annotations

from starlette.requests import Request


async def body_within_limit(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over `limit` bytes: from the
    Content-Length it declares before a byte is read, or while reading from one that does
    not say, or lies."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
