"""A cap on the long-lived streams one holder keeps open, for the board's and the phones'
server-sent events alike (R15: sixty streams of one token each read the database every
second through the shared pool and slowed every other caller).

`StreamSlots` counts the open streams per holder (a user, a nurse); `SlotStream` is the
streaming response that gives its slot back however it ends. A handler takes a slot before
it answers and hands the release to the response::

    if not slots.take(holder):
        return <429 with Retry-After>
    return SlotStream(messages(), release=lambda: slots.release(holder), ...)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

from fastapi.responses import StreamingResponse

__all__ = ["SIGNED_OUT", "STREAM_RETRY_AFTER_SECONDS", "SlotStream", "StreamSlots"]

#: When a refused stream may try again (Retry-After, seconds); the board and the phones
#: poll meanwhile.
STREAM_RETRY_AFTER_SECONDS = 15

#: The last message of a stream ended because its caller's credential is no longer valid:
#: an SSE comment, so clients of the contract need not know it; the reconnection then
#: gets the 401 that says why.
SIGNED_OUT = ": signed out\n\n"


class StreamSlots:
    """Open-stream counts per holder for one app (one event loop: no lock needed, as
    `take` and `release` never await). ``per_holder``: the cap, at least 1."""

    def __init__(self, per_holder: int) -> None:
        if per_holder < 1:
            raise ValueError(f"per_holder must be at least 1, not {per_holder}")
        self.per_holder = per_holder
        self._open: dict[Hashable, int] = {}

    def take(self, holder: Hashable) -> bool:
        """Count one more open stream for ``holder``; ``False`` (nothing counted) at the cap."""
        held = self._open.get(holder, 0)
        if held >= self.per_holder:
            return False
        self._open[holder] = held + 1
        return True

    def release(self, holder: Hashable) -> None:
        """The stream ended (or never started): give its slot back."""
        held = self._open.get(holder, 0) - 1
        if held > 0:
            self._open[holder] = held
        else:
            self._open.pop(holder, None)

    def held(self, holder: Hashable) -> int:
        """Streams ``holder`` holds open now."""
        return self._open.get(holder, 0)


class SlotStream(StreamingResponse):
    """A stream that gives its holder's slot back however it ends: finished, client gone, or
    never started (the slot is taken before the response is sent). ``release`` runs once."""

    def __init__(
        self, content: AsyncIterator[str], *, release: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
