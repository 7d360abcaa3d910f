"""Run a grid of experiments: configs x env configs x `--set` value lists x seeds.

    python -m tools.sweep --configs qmix vdn salemb --env-config lbf \\
        --set env_args.key=Foraging-8x8-2p-3f-v3,Foraging-10x10-3p-3f-v3 --seeds 5 --jobs 2 t_max=200000
    python -m tools.sweep ... --dry-run                      # the grid, and what is done already
    python -m tools.sweep ... --backend ray --address auto   # the same runs as Ray tasks on a cluster

Each run is `python src/main.py --config=C --env-config=E with <--set values> <key=value ...> seed=S
local_results_path=OUT`, its output appended to OUT/logs/<point>.log. Running the same sweep again skips
the points whose run completed (matched by the full config in config.json), resumes interrupted runs
that left a checkpoint (runs with save_model=True), and runs failed ones afresh. Progress goes to stderr;
the exit code is 1 when a run failed, 130 when the sweep was interrupted (the running runs get SIGTERM
and save a checkpoint when they checkpoint at all).
"""

from __future__ import annotations

import argparse
import fcntl
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

from tools import ROOT
from tools.sweep.execute import InterruptedSweep, Job, run_local
from tools.sweep.grid import ConfigCache, ConfigError, expand
from tools.sweep.progress import Progress
from tools.sweep.state import Plan, plan

MAIN = (sys.executable, str(ROOT / "src" / "main.py"))
INTERRUPTED = 130  # the exit code of a sweep that Ctrl-C or SIGTERM stopped


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", required=True, metavar="ALG", help="algorithm configs (src/config/algs)")
    parser.add_argument("--env-config", nargs="+", required=True, metavar="ENV", help="env configs (src/config/envs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2", help="a swept key; several --set make a cartesian product")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 1..N (default 1)")
    seeds.add_argument("--seed-list", nargs="+", metavar="S", help="these seeds instead of 1..N")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (local backend)")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="local_results_path of every run (default results/)")
    parser.add_argument("--dry-run", action="store_true", help="print the grid and each point's state, run nothing")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--address", help="Ray cluster address (e.g. auto); without it Ray starts a local instance")
    parser.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs Ray reserves per run")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides for every run, e.g. t_max=200000")
    args = parser.parse_args(argv)
    # `--configs qmix vdn t_max=1` would hand t_max=1 to --configs: move such items to the overrides.
    for name in ("configs", "env_config", "seed_list"):
        values = getattr(args, name)
        if values:
            args.overrides = [v for v in values if "=" in v] + args.overrides
            setattr(args, name, [v for v in values if "=" not in v])
    return args


def seed_list(args: argparse.Namespace) -> list[int]:
    if args.seed_list:
        try:
            return [int(s) for s in args.seed_list]
        except ValueError:
            raise ConfigError(f"--seed-list {' '.join(args.seed_list)}: seeds are integers, e.g. --seed-list 1 7 42") from None
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: give the number of seeds, at least 1")
    return list(range(1, args.seeds + 1))


def make_job(p: Plan, out: Path, main_command: Sequence[str]) -> Job:
    if p.action == "resume":
        command = (*main_command, "with", f"resume={p.run.path}")
    else:
        command = (*main_command, *p.spec.argv(out))
    return Job(p.spec.label, tuple(command), str(out / "logs" / p.spec.log_name), str(ROOT))


def lock_output(out: Path) -> IO[str]:
    """Hold `<out>/.sweep.lock` for the sweep's lifetime, so two sweeps never run the same points at once."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".sweep.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(f"another sweep is writing to {out} (it holds {out / '.sweep.lock'}); "
                          "wait for it, or give this one another --out") from None
    return handle


def last_line(log: str) -> str:
    """The log's last line that the sweep did not write itself (usually the error)."""
    try:
        with open(log, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("===")]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def report(plans: list[Plan], jobs: dict[str, Job], codes: dict[str, int | None], interrupted: bool) -> str:
    ran = [p for p in plans if p.spec.label in jobs]
    failed = [p for p in ran if codes.get(p.spec.label) not in (0, None)]
    stopped = [p for p in ran if codes.get(p.spec.label) is None]
    done = len(ran) - len(failed) - len(stopped)
    lines = [f"sweep: {len(plans)} grid points: {len(plans) - len(ran)} done before, {done} done now, "
             f"{len(failed)} failed" + (f", {len(stopped)} stopped or not started (interrupted)" if interrupted else "")]
    if failed:
        lines.append("failed runs:")
        for p in failed:
            job = jobs[p.spec.label]
            lines.append(f"  {p.spec.label}: exit {codes[p.spec.label]}, log {job.log}")
            tail = last_line(job.log)
            if tail:
                lines.append(f"      {tail}")
        lines.append("run the same command again to re-run them (completed runs are skipped)")
    return "\n".join(lines)


def main(argv: list[str] | None = None, main_command: Sequence[str] = MAIN) -> int:
    """The sweep; `main_command` is the training entry point's command (tests give a fake one)."""
    args = parse_args(argv)
    out = args.out.resolve()
    if args.backend == "ray":
        from tools.sweep.ray_backend import import_ray

        import_ray()
    try:
        if args.address and args.backend != "ray":
            raise ConfigError(f"--address {args.address} is a Ray cluster's address; add --backend ray to use it")
        if args.jobs < 1:
            raise ConfigError(f"--jobs {args.jobs}: at least one run must run at a time")
        specs = expand(args.configs, args.env_config, args.set, seed_list(args), args.overrides)
        plans = plan(specs, out, ConfigCache())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    todo = [p for p in plans if p.action != "skip"]
    counts = {a: sum(p.action == a for p in plans) for a in ("new", "rerun", "resume", "skip")}
    summary = (f"{len(plans)} grid points: {counts['new']} new, {counts['rerun']} to re-run, {counts['resume']} to resume, "
               f"{counts['skip']} done before")
    if args.dry_run:
        for p in plans:
            print(f"{p.spec.label}: {p.describe()}")
        print(summary)
        return 0
    try:
        lock = lock_output(out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    jobs = {p.spec.label: make_job(p, out, main_command) for p in todo}
    print(f"sweep: {summary}; logs in {out / 'logs'}", file=sys.stderr)
    progress = Progress(len(todo), args.jobs, skipped=counts["skip"])
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    try:
        if args.backend == "ray":
            from tools.sweep.ray_backend import run_ray

            init = {"address": args.address} if args.address else {}
            codes = run_ray(list(jobs.values()), progress, args.cpus_per_run, **init)
        else:
            codes = run_local(list(jobs.values()), args.jobs, progress)
    except InterruptedSweep as exc:
        codes, interrupted = exc.codes, True
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        progress.close()
        lock.close()
    print(report(plans, jobs, codes, interrupted), file=sys.stderr)
    if interrupted:
        return INTERRUPTED
    return 1 if any(code != 0 for code in codes.values()) else 0


def run_sweeps(sweeps: Iterable[tuple[str, list[str]]], after_each: Callable[[], object] | None = None) -> int:
    """Run sweeps one after another, each given as (what it runs, for a `== ...` line on stderr; its command
    line, as `main` takes it), calling `after_each` after each (the method comparison records a finished
    sweep's runs before the next starts). Returns the worst exit code; an interrupted sweep (Ctrl-C,
    SIGTERM) stops the rest. This is how the checks (tools/checks) run their grids."""
    worst = 0
    for title, argv in sweeps:
        print(f"== {title}", file=sys.stderr, flush=True)
        code = main(argv)
        worst = max(worst, code)
        if after_each is not None:
            after_each()
        if code == INTERRUPTED:
            print(f"== interrupted during {title}: the remaining sweeps are not started", file=sys.stderr, flush=True)
            return code
    return worst


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")

