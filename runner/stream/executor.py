"""The stream run: render lazily, admit through the limiter, call, retry, record, write.

Tasks and the bounded queues between them (memory stays flat whatever the
row count):

    render (thread, chunks) -> requests queue -> N workers -> results queue
        -> writer (ledger commit, fsynced; seals parts) -> parts queue -> flusher (sink)

A row counts as done once the writer's commit returns. The flusher writes only
sealed parts and marks them written afterwards; see ledger.py for why a kill
anywhere leaves exactly one result per custom_id after the next run.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

from runner.errors import Interrupted, RemoteError
from runner.records import Request
from runner.stream import calls
from runner.stream.ledger import DIRTY, SEALED, WRITTEN, Ledger
from runner.stream.limiter import Cost, Limiter
from runner.stream.live_progress import LiveProgress, RunStats
from runner.stream.retry import Backoff, classify

RENDER_CHUNK = 256
MAX_COMMIT_ROWS = 2000
# With a Cloud Storage state location, at most one flush object (and commit) per this many
# seconds: fewer, larger objects; a kill then also re-sends what waited for the next flush.
FLUSH_INTERVAL = 0.25
BACKOFF = Backoff()
# Consecutive connection failures, across rows and with no answer in between, after which the
# endpoint counts as unreachable, per call allowed in flight (the limiter's current limit, since
# with no success it stays at its start of 4): each call in flight failed about 3 times, well
# before a row's own retries (6 by default) run out.
UNREACHABLE_AFTER = 3


class StreamRun:
    """One run of one spec; `run()` returns when every row is recorded or the run is stopped."""

    def __init__(
        self,
        spec,
        target,
        options,
        ledger: Ledger,
        sink,
        limiter: Limiter,
        requests,
        stats: RunStats,
        *,
        backoff: Backoff | None = None,
        client=None,
        shared=None,
    ):
        self.spec = spec
        self.options = options
        self.ledger = ledger
        self.sink = sink
        self.limiter = limiter
        self.requests = requests  # the lazy render iterator (second pass)
        self.stats = stats
        self.backoff = backoff or BACKOFF
        self._target = target
        # Built on the first call (`client`): a run with nothing left to send never imports the SDK.
        self._client = client
        self.rng = random.Random()
        from runner.dataio.results import ResultShape

        self.shape = ResultShape.of(spec)  # reads every answer once, as it arrives
        self.shared = shared  # runner.stream.shared.Shared: lock check and state-location flush
        self._connection_streak = 0  # connection failures since the last answer
        # One thread owns the SQLite connection: commits never interleave.
        self._ledger_thread = ThreadPoolExecutor(1, thread_name_prefix="ledger")

    async def _in_ledger(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self._ledger_thread, func, *args)

    # -- the whole run -------------------------------------------------------------

    async def run(self, progress: LiveProgress) -> None:
        workers_n = self.limiter.max_concurrency
        self._requests: asyncio.Queue = asyncio.Queue(maxsize=workers_n * 2 + RENDER_CHUNK)
        self._results: asyncio.Queue = asyncio.Queue(maxsize=workers_n * 4 + 64)
        self._parts: asyncio.Queue = asyncio.Queue()
        self._progress = progress
        loop = asyncio.get_running_loop()
        interrupted = asyncio.Event()

        def on_signal() -> None:
            interrupted.set()
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._in_ledger(self._recover)
            writer = asyncio.create_task(self._writer())
            flusher = asyncio.create_task(self._flusher())
            feeders = [asyncio.create_task(self._producer(workers_n))]
            feeders += [asyncio.create_task(self._worker()) for _ in range(workers_n)]
            stop = asyncio.create_task(interrupted.wait())
            tasks = [*feeders, writer, flusher, stop]
            pending: set[asyncio.Task[Any]] = set(feeders) | {writer, flusher}
            failed = False
            while pending & set(feeders) and not stop.done() and not failed:
                done, pending = await asyncio.wait(pending | {stop}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(stop)
                # A bug, a worker's unknown error or a sink failure: stop, keep what is done.
                failed = any(t.exception() is not None for t in done - {stop})
            pending -= {writer, flusher}
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            stop.cancel()
            # Everything finished is committed and written, even when stopping early.
            put = asyncio.create_task(self._results.put(None))
            await asyncio.wait([put, writer], return_when=asyncio.FIRST_COMPLETED)
            put.cancel()
            await writer
            await self._parts.put(None)
            await flusher
            await self._in_ledger(self._repair_dirty)
            errors = [t.exception() for t in feeders if not t.cancelled()]
            first = next((e for e in errors if e is not None), None)
            if first is not None:
                raise first
            if interrupted.is_set():
                raise Interrupted("interrupted: finished rows are saved; re-run the same command to resume")
        finally:
            # Several workers often fail together (an unreachable endpoint): one error is raised,
            # the others are retrieved here so asyncio does not print their tracebacks at exit; and
            # cancelled calls finish unwinding before the client closes (the aiohttp transport
            # would otherwise warn of a session left open by a request still in flight).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self._ledger_thread.shutdown(wait=True)
            if self._client is not None:
                await self._client.close()

    @property
    def client(self):
        """The Anthropic client, built on first use. target.region is `run --region`, else the
        spec's region (open_target is given both)."""
        if self._client is None:
            self._client = self._target.anthropic(self._target.region)
        return self._client

    # -- recovery: bring the destination in line with the ledger -------------------

    def _recover(self) -> None:
        """Before anything is sent: seal what a killed run left open and store every unwritten part."""
        if self.ledger.fresh:
            self.sink.reset()
        self.ledger.seal()
        self.sink.recover(lambda: self.ledger.rows(WRITTEN, DIRTY), self._changed())
        self.ledger.mark_written(self.ledger.parts(DIRTY))
        for part in self.ledger.parts(SEALED):
            self.sink.put(part, self.ledger.part_rows(part))
            self.ledger.mark_written([part])

    def _changed(self):
        for part in self.ledger.parts(DIRTY):
            yield part, self.ledger.part_rows(part)

    def _repair_dirty(self) -> None:
        if self.ledger.parts(DIRTY):
            self.sink.recover(lambda: self.ledger.rows(WRITTEN, DIRTY), self._changed())
            self.ledger.mark_written(self.ledger.parts(DIRTY))

    # -- producer: render -> skip finished rows -> queue ---------------------------

    async def _producer(self, workers_n: int) -> None:
        reader = self.ledger.reader()
        wanted_again = ("errored",) if self.options.retry_failed else ()

        def next_chunk() -> tuple[list[Request], bool]:
            chunk = list(islice(self.requests, RENDER_CHUNK))
            finished = Ledger.statuses(reader, [r.custom_id for r in chunk])
            return [
                r for r in chunk if r.custom_id not in finished or finished[r.custom_id] in wanted_again
            ], not chunk

        while True:
            chunk, exhausted = await asyncio.to_thread(next_chunk)
            if exhausted:
                break
            for request in chunk:
                await self._requests.put(request)
        # Only after a normal end: when cancelled, no worker is left to take the sentinels
        # (and a render thread may still hold the reader; it goes with the process).
        reader.close()
        for _ in range(workers_n):
            await self._requests.put(None)

    # -- workers: one row at a time, every attempt through the limiter ----------------

    async def _worker(self) -> None:
        while (request := await self._requests.get()) is not None:
            row = await self._process(request)
            await self._results.put(row)

    async def _process(self, request: Request):
        stream = self.spec.stream
        body = request.body
        from runner.render.token_estimates import estimate_input_tokens

        cost = Cost(1, estimate_input_tokens(body), int(body.get("max_tokens") or 0))
        attempt = 0
        while True:
            attempt += 1
            reservation = await self.limiter.acquire(cost)
            self.stats.attempts += 1
            if self.stats.first_sent is None:
                self.stats.first_sent = time.monotonic()
            started = time.monotonic()
            try:
                message = await calls.call_once(
                    self.client,
                    self.spec.model,
                    request,
                    streaming=stream.streaming,
                    timeout=stream.request_timeout,
                )
            except asyncio.CancelledError:
                self.limiter.fail(reservation, time.monotonic())
                raise
            except Exception as exc:
                failure = classify(exc)
                latency = time.monotonic() - started
                self.limiter.fail(reservation, time.monotonic(), failure.kind)
                self.stats.record_failure(failure.kind)
                self._check_reachable(failure)
                if not failure.retryable or attempt > stream.max_retries:
                    return self.shape.finish(calls.errored(request, failure.to_error(), attempt, latency))
                await asyncio.sleep(self.backoff.delay(attempt, failure, self.rng))
                continue
            self._connection_streak = 0
            latency = time.monotonic() - started
            usage = calls.usage_of(message)
            used_in = (
                usage.get("input_tokens", 0)
                + usage.get("cache_creation_input_tokens", 0)
                + usage.get("cache_read_input_tokens", 0)
            )
            self.limiter.settle(
                reservation, Cost(1, used_in, usage.get("output_tokens", 0)), time.monotonic()
            )
            return self.shape.finish(calls.succeeded(request, message, attempt, latency))

    def _check_reachable(self, failure) -> None:
        """Circuit breaker: stop sending once the endpoint looks gone, rather than wearing every
        row's retries out against it. The raise ends the run; rows not finished stay pending."""
        if failure.kind != "connection":
            if failure.code is not None:  # an HTTP answer: the endpoint is there
                self._connection_streak = 0
            return
        self._connection_streak += 1
        if self._connection_streak >= UNREACHABLE_AFTER * max(1, int(self.limiter.concurrency)):
            endpoint = getattr(self.client, "base_url", None) or "its endpoint"
            raise RemoteError(
                f"cannot reach Vertex AI at {endpoint}: {failure.message}",
                hint="check the network or `claude-jobs local status`; re-run to resume",
            )

    # -- writer: group commit to the ledger, seal parts -------------------------------

    async def _writer(self) -> None:
        in_part, part_started, finishing = 0, 0.0, False
        # With a Cloud Storage state location each commit is also a flush object there: commits
        # are at most one per FLUSH_INTERVAL (rows wait in `pending`, the queue keeps draining).
        remote = self.shared is not None and self.shared.remote is not None
        pending: list = []
        last_commit = 0.0
        while not finishing:
            wait = self.sink.part_seconds
            if pending:
                wait = max(0.0, last_commit + FLUSH_INTERVAL - time.monotonic())
            batch = await self._next_results(wait)
            finishing = None in batch
            pending += [row for row in batch if row is not None]
            if pending and (
                not remote
                or finishing
                or len(pending) >= MAX_COMMIT_ROWS
                or time.monotonic() - last_commit >= FLUSH_INTERVAL
            ):
                rows, pending = pending, []
                last_commit = time.monotonic()
                synced = None
                if remote:  # the state location first: a row is done once there
                    part = await self._in_ledger(self.ledger.pending_part)
                    synced = await asyncio.to_thread(self.shared.flush, part, rows)
                elif self.shared is not None:
                    self.shared.check()  # still our lock: never write on without it
                await self._in_ledger(self.ledger.record, rows, synced)  # fsynced: now they count
                for row in rows:
                    self.stats.record_row(row)
                self._progress.update()
                if not in_part:
                    part_started = time.monotonic()
                in_part += len(rows)
            if in_part and (
                finishing
                or in_part >= self.sink.part_rows
                or time.monotonic() - part_started >= self.sink.part_seconds
            ):
                part = await self._in_ledger(self.ledger.seal)
                if part is not None:
                    await self._parts.put(part)
                in_part = 0

    async def _next_results(self, wait: float) -> list:
        """Everything finished so far (one group commit), waiting at most `wait` for it."""
        batch = []
        if self._results.empty() and wait > 0:
            try:
                batch.append(await asyncio.wait_for(self._results.get(), timeout=wait))
            except TimeoutError:
                return []
        while len(batch) < MAX_COMMIT_ROWS and not self._results.empty():
            batch.append(self._results.get_nowait())
        return batch

    async def _flusher(self) -> None:
        while (part := await self._parts.get()) is not None:
            rows = await self._in_ledger(self.ledger.part_rows, part)
            await asyncio.to_thread(self.sink.put, part, rows)
            await self._in_ledger(self.ledger.mark_written, [part])
