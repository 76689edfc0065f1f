"""Requests sent a few at a time: workers that share a queue, stopped together."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine


async def run_together(workers: list[Coroutine]) -> None:
    """Run `workers` at once until all are done. The first error — or a cancel of the caller —
    cancels the others, and they are awaited before it goes on: no request is left running for
    nobody, and the error is the caller's to handle (not wrapped in a group)."""
    tasks = [asyncio.create_task(worker) for worker in workers]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
