"""Whole-process QMIX against EPyMARL's, side by side: the same task, budget and settings, alternating rounds.

    python -m tools.bench.vs_epymarl --epymarl ../epymarl                     # 30k steps, 3 rounds
    python -m tools.bench.vs_epymarl --epymarl ../epymarl --t-max 10000 --rounds 1
    python -m tools.bench.vs_epymarl --epymarl ../epymarl with act_backend=numpy   # keys for our side

`--epymarl` is a checkout of uoe-agents/epymarl (measured at cbc38c0), run unedited with the Python running
this script. EPyMARL imports `smaclite` whatever the env; that package is not on PyPI, so an empty stand-in
is put on EPyMARL's PYTHONPATH (its smaclite env is not used). Both sides run EPyMARL's QMIX settings on
LBF (`Foraging-8x8-2p-2f-coop-v3` unless `--task`): the episode runner with one env, 32 episodes a batch,
a buffer of 5000, one update per episode, lr 5e-4, epsilon over 50k steps, one-step targets, no last
action in the agents' inputs, and the same GRU agent (EPyMARL's `use_rnn=True`); 100 test episodes at
the start only (EPyMARL's loop tests every `test_interval` and not at the end; ours runs with
`test_at_end=False`). Each round runs EPyMARL then ours (the order alternates) and reports env steps
per second of wall-clock and per CPU-second of the whole process (children included), and the ratios
ours / EPyMARL.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import ROOT
from tools.bench.speed import EPYMARL_QMIX
from utils.config_loader import split_with

LOGGING = ["log_interval=50000", "runner_log_interval=50000", "learner_log_interval=50000"]


def epymarl_command(checkout: Path, task: str, t_max: int, seed: int) -> list[str]:
    return [sys.executable, str(checkout / "src" / "main.py"), "--config=qmix", "--env-config=gymma", "with",
            f"env_args.key=lbforaging:{task}", "env_args.time_limit=50", "use_rnn=True", "use_cuda=False",
            f"t_max={t_max}", f"seed={seed}", "test_nepisode=100", "test_interval=50000", "save_model=False", *LOGGING]


def our_settings(task: str, t_max: int, seed: int) -> list[str]:
    """Our side's `with` overrides of qmix on lbf: EPyMARL's QMIX settings, tests only at the start (as EPyMARL's)."""
    return [f"env_args.key={task}", *EPYMARL_QMIX, "use_tensorboard=False", f"t_max={t_max}", f"seed={seed}",
            "test_nepisode=100", "test_interval=50000", "test_at_end=False", "save_model=False", *LOGGING]


def our_command(task: str, t_max: int, seed: int, overrides: list[str] = ()) -> list[str]:
    return [sys.executable, str(ROOT / "src" / "main.py"), "--config=qmix", "--env-config=lbf", "with",
            *our_settings(task, t_max, seed), *overrides]


def timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Run `command` to its end; (wall-clock seconds, CPU seconds of it and its children). A failed run is
    an error that shows the end of its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited with {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stand_in_env(folder: Path) -> dict[str, str]:
    """The environment EPyMARL runs in: an empty `smaclite` package first on its PYTHONPATH."""
    (folder / "smaclite").mkdir(exist_ok=True)
    (folder / "smaclite" / "__init__.py").write_text('"""Empty stand-in: EPyMARL imports smaclite, its env is not used."""\n')
    return {**os.environ, "PYTHONPATH": str(folder)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epymarl", type=Path, required=True, help="a checkout of uoe-agents/epymarl")
    parser.add_argument("--task", default="Foraging-8x8-2p-2f-coop-v3", help="an LBF id")
    parser.add_argument("--t-max", type=int, default=30_000, help="env steps per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    argv, overrides = split_with(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not (args.epymarl / "src" / "main.py").is_file():
        parser.error(f"--epymarl {args.epymarl}: no src/main.py there; give a checkout of uoe-agents/epymarl")
    ratios: dict[str, list[float]] = {"wall": [], "cpu": []}
    with tempfile.TemporaryDirectory() as scratch:
        runs = {
            "EPyMARL": (epymarl_command(args.epymarl.resolve(), args.task, args.t_max, args.seed), stand_in_env(Path(scratch))),
            "ours": (our_command(args.task, args.t_max, args.seed, overrides), dict(os.environ)),
        }
        for r in range(args.rounds):
            order = ["EPyMARL", "ours"] if r % 2 == 0 else ["ours", "EPyMARL"]
            times = {name: timed(*runs[name], cwd=scratch) for name in order}
            (ew, ec), (ow, oc) = times["EPyMARL"], times["ours"]
            ratios["wall"].append(ew / ow)
            ratios["cpu"].append(ec / oc)
            print(f"round {r + 1}: EPyMARL {args.t_max / ew:.0f} steps/s ({args.t_max / ec:.0f} per CPU-s) | ours "
                  f"{args.t_max / ow:.0f} steps/s ({args.t_max / oc:.0f} per CPU-s) | ours / EPyMARL: "
                  f"{ew / ow:.2f}x wall, {ec / oc:.2f}x per CPU-s", flush=True)
    print(f"median over {args.rounds} round(s): {statistics.median(ratios['wall']):.2f}x wall, "
          f"{statistics.median(ratios['cpu']):.2f}x per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
