"""Chaos check: SIGKILL a short training run at random moments, resume it each time, and compare the end
result with an uninterrupted run of the same seed.

    python -m tools.bench.chaos --kills 5 --seed 0

Both runs train qmix (or --alg) on a toy-sized LBF task with frequent checkpoints and the replay buffer
saved. Each kill comes at a random moment of training (uniform over a share of the reference run's
training time, so kills land while collecting, in learner updates and while checkpoints are written,
and some before the next checkpoint, so one checkpoint is resumed twice); the run is then resumed in place with `resume=<sacred run folder>`. At the end the metrics of
the two runs are compared step by step. Exit code 0 only when no metric step is lost, none is logged twice
and every value matches the uninterrupted run exactly.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import ROOT
from tools.analysis.metrics_diff import compare_metrics, read_metrics
from utils.checkpoint import list_checkpoints
from utils.resume import recorded_model_dir

STARTED = "Beginning training"


def run_args(alg: str, seed: int, t_max: int, results: Path) -> list[str]:
    return [
        f"--config={alg}", "--env-config=lbf", "with", "env_args.key=Foraging-5x5-2p-1f-v3", f"t_max={t_max}",
        f"seed={seed}", "save_model=True", "save_model_interval=200", "save_buffer=True", "use_cuda=False",
        "test_interval=500", "test_nepisode=4", "log_interval=500", "runner_log_interval=200",
        "learner_log_interval=200", "batch_size=8", "buffer_size=32", f"local_results_path={results}",
    ]


def start(argv: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")
    return subprocess.Popen([sys.executable, "src/main.py", *argv], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def wait_for_training(proc: subprocess.Popen, log: Path) -> float:
    """Block until the run logs that training began (or ends); returns that moment."""
    while STARTED not in log.read_text() and proc.poll() is None:
        time.sleep(0.02)
    return time.time()


def finish(proc: subprocess.Popen, log: Path) -> None:
    code = proc.wait()
    if code != 0:
        raise SystemExit(f"a run exited with code {code}; its output is in {log}:\n{log.read_text()[-3000:]}")


def sacred_run(results: Path) -> Path:
    runs = [p for p in (results / "sacred").glob("*/*/*") if p.name.isdigit()]
    if len(runs) != 1:
        raise SystemExit(f"expected one sacred run under {results}, found {len(runs)}")
    return runs[0]


def latest_checkpoint(run_dir: Path) -> int | None:
    model_dir = recorded_model_dir(str(run_dir))
    steps = list_checkpoints(model_dir) if model_dir else []
    return steps[-1] if steps else None


def reference_run(argv: list[str], out: Path) -> tuple[Path, float]:
    """The uninterrupted run: its sacred folder and how long its training took (seconds)."""
    log = out / "reference.log"
    proc = start(argv, log)
    began = wait_for_training(proc, log)
    finish(proc, log)
    return sacred_run(out / "reference"), time.time() - began


def chaos_run(argv: list[str], out: Path, kills: int, train_time: float, rng: random.Random) -> tuple[Path, list[str]]:
    """The run killed `kills` times and resumed after each; returns its sacred folder and a line per kill."""
    notes: list[str] = []
    log = out / "chaos_0.log"
    proc = start(argv, log)
    run_dir: Path | None = None
    for k in range(1, kills + 1):
        began = wait_for_training(proc, log)
        time.sleep(rng.uniform(0.0, 1.6 * train_time / (kills + 1)))
        if proc.poll() is not None:
            notes.append(f"kill {k}: the run had finished before it; no more kills")
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run_dir = run_dir or sacred_run(out / "chaos")
        last = latest_checkpoint(run_dir)
        notes.append(f"kill {k}: SIGKILL {time.time() - began:.2f} s into training; latest complete checkpoint t_env {last}")
        if last is None:
            raise SystemExit(f"kill {k} came before the first checkpoint; nothing to resume (raise the delay)")
        log = out / f"chaos_{k}.log"
        proc = start(["with", f"resume={run_dir}"], log)
    finish(proc, log)
    return run_dir or sacred_run(out / "chaos"), notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs to send (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs and of the kill moments")
    parser.add_argument("--alg", default="qmix", help="algorithm config (default qmix)")
    parser.add_argument("--t-max", type=int, default=3000, help="env steps per run (default 3000)")
    parser.add_argument("--out", help="folder for both runs (default: a temporary folder, removed if all is well)")
    opts = parser.parse_args(argv)
    if opts.kills < 1:
        parser.error(f"--kills must be >= 1, got {opts.kills}")
    out = Path(opts.out or tempfile.mkdtemp(prefix="chaos_"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(opts.seed)

    reference, train_time = reference_run(run_args(opts.alg, opts.seed, opts.t_max, out / "reference"), out)
    print(f"uninterrupted run: {opts.alg}, seed {opts.seed}, t_max {opts.t_max}, training took {train_time:.1f} s")
    chaos, notes = chaos_run(run_args(opts.alg, opts.seed, opts.t_max, out / "chaos"), out, opts.kills, train_time, rng)
    print("\n".join(notes))

    diff = compare_metrics(read_metrics(reference), read_metrics(chaos))
    print(diff.summary())
    ok = diff.steps_lost == 0 and diff.steps_duplicated == 0 and diff.curves_match
    print("CHAOS CHECK PASSED" if ok else f"CHAOS CHECK FAILED (runs kept in {out})")
    if ok and not opts.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
