"""Micro-batching: concurrent single predictions for the same model share one inference call.

While one call runs in the inference thread, newly arrived requests queue up and the next call takes them all, so
under load the per-call overhead (thread hop, ONNX Runtime dispatch) is paid once per batch instead of once per
request. A short window (≤ 2 ms) gathers stragglers, only while requests arrive concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from mlops_workloads.serving.model import LoadedModel


@dataclass
class _Pending:
    model: LoadedModel
    row: np.ndarray
    future: asyncio.Future[float]


class MicroBatcher:
    """Queues single rows and scores them in batches of at most ``max_batch`` on ``executor``."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        *,
        max_batch: int,
        window_seconds: float = 0.0,
        workers: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._executor = executor
        self._max_batch = max_batch
        self._window = window_seconds
        self._workers = workers
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_batch = 1

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._run(), name=f"micro-batcher-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError("the service is shutting down"))

    async def predict(self, model: LoadedModel, row: np.ndarray) -> float:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(model, row, future))
        return await future

    async def _collect(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        batch = [await queue.get()]
        # Wait for stragglers only under concurrency (the last batch had company): a lone client pays no window.
        if self._window > 0 and self._last_batch > 1:
            await asyncio.sleep(self._window)
        while len(batch) < self._max_batch and not queue.empty():
            batch.append(queue.get_nowait())
        self._last_batch = len(batch)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        if queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        while True:
            batch = await self._collect(queue)
            # One call per model: during a hot swap a batch can hold requests for the old and the new version.
            groups: dict[int, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(id(pending.model), []).append(pending)
            for group in groups.values():
                matrix = np.vstack([p.row for p in group])
                try:
                    scores = await loop.run_in_executor(self._executor, group[0].model.score, matrix)
                except Exception as exc:
                    for pending in group:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                    continue
                if self._on_batch is not None:
                    self._on_batch(len(group))
                for pending, score in zip(group, scores, strict=True):
                    if not pending.future.done():  # the client may have gone away
                        pending.future.set_result(float(score))
