"""Running a sweep's commands: one subprocess per run, its output appended to the run's own log, `jobs`
at a time on this machine. `run_command` uses only the standard library, so a Ray worker can run it too.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from tools.sweep.progress import Progress


@dataclass(frozen=True)
class Job:
    """One command to run for a grid point, and where its output goes."""

    label: str
    command: tuple[str, ...]
    log: str
    cwd: str


def run_command(job: Job, on_start: Callable[[subprocess.Popen], None] | None = None) -> int:
    """Run `job.command`, appending its stdout and stderr to `job.log` under a header (so the log of a
    point that ran twice keeps both attempts); returns the exit code. If this thread is interrupted
    (Ctrl-C, or a Ray task cancelled), the child gets SIGTERM (training saves a checkpoint) first."""
    os.makedirs(os.path.dirname(job.log), exist_ok=True)
    with open(job.log, "a") as log:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        log.write(f"=== {stamp} {job.label}\n=== {' '.join(job.command)}\n")
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT, cwd=job.cwd, env=env, start_new_session=True)
        if on_start is not None:
            on_start(proc)
        try:
            code = proc.wait()
        except BaseException:
            stop([proc])
            raise
        log.write(f"=== exit code {code}\n")
    return code


def stop(procs: list[subprocess.Popen], grace: float = 60.0) -> None:
    """SIGTERM to every process (training saves a checkpoint on it), then SIGKILL to any still there
    `grace` seconds later."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_local(jobs: list[Job], parallel: int, progress: Progress, poll: float = 1.0) -> dict[str, int | None]:
    """Run `jobs`, at most `parallel` at once; returns label -> exit code. On KeyboardInterrupt the
    running children are stopped and InterruptedSweep carries the codes of the runs finished before
    (None for the runs that were stopped or never started)."""
    if parallel < 1:
        raise ValueError(f"--jobs {parallel}: at least one run must run at a time")
    codes: dict[str, int | None] = {job.label: None for job in jobs}
    children: dict[str, subprocess.Popen] = {}
    cancelled = threading.Event()
    lock = threading.Lock()

    def register(label: str) -> Callable[[subprocess.Popen], None]:
        def _register(proc: subprocess.Popen) -> None:
            with lock:
                children[label] = proc
        return _register

    def work(job: Job) -> None:
        if cancelled.is_set():
            return
        progress.started(job.label)
        code = run_command(job, register(job.label))
        with lock:
            children.pop(job.label, None)
        if cancelled.is_set():
            return
        codes[job.label] = code
        progress.finished(job.label, code, job.log)

    pool = ThreadPoolExecutor(max_workers=parallel)
    pending: set[Future] = {pool.submit(work, job) for job in jobs}
    try:
        while pending:
            finished, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
            progress.refresh()
    except KeyboardInterrupt:
        cancelled.set()
        with lock:
            running = list(children.values())
        stop(running)
        pool.shutdown(wait=True, cancel_futures=True)
        raise InterruptedSweep(codes) from None
    pool.shutdown(wait=True)
    return codes


class InterruptedSweep(Exception):
    """The sweep was interrupted; `codes` holds the exit codes of the runs that finished before."""

    def __init__(self, codes: dict[str, int | None]):
        super().__init__("sweep interrupted")
        self.codes = codes
