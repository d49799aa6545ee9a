"""Runs kept under their Idempotency-Key, so a retry replays and a restarted client resumes (SPEC §6).

A run is one call of AgentCore.run() turned into chunks by a background task. Its chunks are kept for `ttl`
seconds after it ends (at least 10 minutes by default). Any number of followers read it from any index: a retry
of a finished key replays it, one of a key in flight joins it live, and `X-Resume-From: n` starts at chunk n.
When its last follower goes away (the client disconnected or pressed stop) the run is cancelled after
`detach_grace` seconds unless someone follows it again; the default 0 cancels it at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, Dict, List, Optional

from .ui_stream import Chunk

RUNNING, FINISHED, CANCELLED = "running", "finished", "cancelled"


class Run:
    def __init__(self, key: str, chunks: AsyncIterator[Chunk], detach_grace: float = 0.0) -> None:
        self.key = key
        self.detach_grace = detach_grace
        self.chunks: List[Chunk] = []
        self.state = RUNNING
        self.ended_at: Optional[float] = None
        self.followers = 0
        self._changed = asyncio.Condition()
        self._grace: Optional[asyncio.TimerHandle] = None
        self.task = asyncio.ensure_future(self._produce(chunks))

    async def _produce(self, chunks: AsyncIterator[Chunk]) -> None:
        state = FINISHED
        try:
            async for chunk in chunks:
                async with self._changed:
                    self.chunks.append(chunk)
                    self._changed.notify_all()
        except asyncio.CancelledError:
            state = CANCELLED
        finally:
            async with self._changed:
                self.state = state
                self.ended_at = time.monotonic()
                self._changed.notify_all()

    async def follow(self, start: int = 0) -> AsyncIterator[Chunk]:
        """The chunks from `start`, then live until the run ends. Leaving early counts as going away."""
        self._attach()
        try:
            index = start
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: index < len(self.chunks) or self.state != RUNNING)
                    batch = self.chunks[index:]
                    ended = self.state != RUNNING
                index += len(batch)
                for chunk in batch:
                    yield chunk
                if ended and index >= len(self.chunks):
                    return
        finally:
            self._detach()

    async def ended(self) -> str:
        async with self._changed:
            await self._changed.wait_for(lambda: self.state != RUNNING)
        return self.state

    def _attach(self) -> None:
        self.followers += 1
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _detach(self) -> None:
        self.followers -= 1
        if self.followers > 0 or self.state != RUNNING:
            return
        if self.detach_grace <= 0:
            self.task.cancel()
        else:
            self._grace = asyncio.get_running_loop().call_later(self.detach_grace, self._cancel_if_alone)

    def _cancel_if_alone(self) -> None:
        self._grace = None
        if self.followers == 0:
            self.task.cancel()


class RunStore:
    def __init__(self, ttl: float = 600.0, detach_grace: float = 0.0) -> None:
        self.ttl = ttl
        self.detach_grace = detach_grace
        self._runs: Dict[str, Run] = {}

    def get(self, key: str) -> Optional[Run]:
        self._expire()
        return self._runs.get(key)

    def start(self, key: str, chunks: AsyncIterator[Chunk]) -> Run:
        self._expire()
        run = Run(key, chunks, self.detach_grace)
        self._runs[key] = run
        return run

    def _expire(self) -> None:
        now = time.monotonic()
        for key, run in list(self._runs.items()):
            if run.ended_at is not None and now - run.ended_at > self.ttl:
                del self._runs[key]
