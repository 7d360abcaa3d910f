"""The sweep's Ray backend: each run is a Ray task that runs the same command as the local backend.

Every node must see the repository, its Python environment (with the repository installed in it,
`pip install -e .`, so that the workers import this module's task function) and the sweep's output folder
at the same paths (a shared filesystem): a task runs `<driver's python> src/main.py ...` there and writes
the sacred folder and the log where the driver will look for them. Ray is an optional extra
(`pip install -r requirements-ray.txt`).
"""

from __future__ import annotations

import time
from typing import Any

from tools.sweep.execute import InterruptedSweep, Job, run_command
from tools.sweep.progress import Progress

INSTALL_HINT = "pip install -r requirements-ray.txt   (or: pip install ray)"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SystemExit(f"error: --backend ray needs Ray, an optional extra that is not installed. Install it with:\n"
                         f"    {INSTALL_HINT}\nor run the sweep on this machine with --backend local") from None
    return ray


def timed_run(job: Job) -> tuple[int, float]:
    """The Ray task: run the job's command; returns (exit code, seconds it ran)."""
    start = time.monotonic()
    code = run_command(job)
    return code, time.monotonic() - start


def run_ray(jobs: list[Job], progress: Progress, cpus_per_run: float = 1.0, poll: float = 1.0,
            **init_kwargs: Any) -> dict[str, int | None]:
    """Submit every job as a Ray task needing `cpus_per_run` CPUs; returns label -> exit code.

    Connects with `ray.init(**init_kwargs)` (e.g. address="auto") unless Ray is already initialised in
    this process. Ray schedules the tasks; the display counts the first tasks as running, as many as the
    cluster has slots, and each finished task as freeing one for the next, in submission order.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(log_to_driver=False, **init_kwargs)
    try:
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_run))
        progress.jobs = slots
        task = ray.remote(num_cpus=cpus_per_run, max_retries=0)(timed_run)
        refs = {task.remote(job): job for job in jobs}
        queue = list(jobs)
        for job in queue[:slots]:
            progress.started(job.label)
        queue = queue[slots:]
        codes: dict[str, int | None] = {job.label: None for job in jobs}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=poll)
                for ref in ready:
                    job = refs.pop(ref)
                    seconds = None
                    try:
                        codes[job.label], seconds = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        codes[job.label] = -1
                        with open(job.log, "a") as log:
                            log.write(f"=== the Ray task failed: {exc}\n")
                    progress.finished(job.label, codes[job.label], job.log, seconds)
                    if job in queue:
                        queue.remove(job)  # ran before the display counted it as running; the slots stay as they are
                    elif queue:
                        progress.started(queue.pop(0).label)
                progress.refresh()
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)
            raise InterruptedSweep(codes) from None
        return codes
    finally:
        if started_here:
            ray.shutdown()
