"""Worker processes with hard wall-clock limits enforced from outside.

Each job runs in a long-lived worker process (so imports such as sympy are paid once). The parent waits on
the workers' pipes with a deadline per job; a worker that overruns is SIGKILLed and replaced, and its job
scores as a timeout. Nothing relies on `signal.alarm`, which cannot interrupt C code (sympy's big-integer
arithmetic) and does not work off the main thread.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable


@dataclass(frozen=True)
class Outcome:
    ok: bool  # the job returned (False: timed out or the worker died)
    value: Any = None
    error: str | None = None  # "timeout", "worker died", or the job's exception
    seconds: float = 0.0


def _serve(conn, fn: Callable, init: Callable | None) -> None:
    if init is not None:
        init()
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        start = time.perf_counter()
        try:
            conn.send((True, fn(job), None, time.perf_counter() - start))
        except Exception as e:  # the job's own failure is a result, not a crash
            conn.send((True, None, f"{type(e).__name__}: {e}", time.perf_counter() - start))


class WorkerPool:
    """`map(jobs)` runs fn(job) for each job in `workers` processes, each job limited to `timeout_s`."""

    def __init__(self, fn: Callable, *, workers: int | None = None, timeout_s: float = 5.0,
                 init: Callable | None = None, start_timeout_s: float = 60.0):
        # `init` runs once per worker before it takes jobs (imports, say), so a job's clock covers the job
        # alone, also in a worker started to replace one that was killed.
        self.fn, self.timeout_s, self.init, self.start_timeout_s = fn, timeout_s, init, start_timeout_s
        self.size = workers or max(1, min(4, os.cpu_count() or 1))
        self.ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context("spawn")
        self.workers: list[tuple[Any, Any]] = []

    def _spawn(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve, args=(child, self.fn, self.init), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(self.start_timeout_s) or parent.recv() != "ready":
            proc.kill()
            raise RuntimeError(f"a verifier worker did not start within {self.start_timeout_s} s")
        return proc, parent

    def _ensure(self):
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())

    def map(self, jobs: list) -> list[Outcome]:
        self._ensure()
        results: list[Outcome | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))[::-1]
        busy: dict[int, tuple[int, float]] = {}  # worker slot -> (job index, deadline)
        while pending or busy:
            for slot in range(self.size):
                if slot not in busy and pending:
                    i = pending.pop()
                    self.workers[slot][1].send(jobs[i])
                    busy[slot] = (i, time.monotonic() + self.timeout_s)
            now = time.monotonic()
            soonest = min(deadline for _, deadline in busy.values())
            ready = wait([self.workers[s][1] for s in busy], timeout=max(0.0, soonest - now))
            for slot in list(busy):
                i, deadline = busy[slot]
                conn = self.workers[slot][1]
                if conn in ready:
                    try:
                        ok, value, error, seconds = conn.recv()
                        results[i] = Outcome(ok, value, error, seconds)
                    except (EOFError, OSError):
                        results[i] = Outcome(False, error="worker died", seconds=self.timeout_s)
                        self._replace(slot)
                    del busy[slot]
                elif time.monotonic() >= deadline:
                    results[i] = Outcome(False, error="timeout", seconds=self.timeout_s)
                    self._replace(slot)
                    del busy[slot]
        return results  # type: ignore[return-value]

    def _replace(self, slot: int) -> None:
        proc, conn = self.workers[slot]
        proc.kill()
        proc.join()
        conn.close()
        self.workers[slot] = self._spawn()

    def close(self) -> None:
        for proc, conn in self.workers:
            conn.close()
            proc.kill()
            proc.join()
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
