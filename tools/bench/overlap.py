"""How much learning can overlap collection on this machine: the ceiling of running the learner beside
the acting loop, on threads and on processes.

    python -m tools.bench.overlap                                   # EPyMARL's QMIX settings, numpy acting
    python -m tools.bench.overlap --seconds 20 with act_backend=torch

One learner update per collected episode, as with EPyMARL's settings (`tools.bench.speed.EPYMARL_QMIX` on
`Foraging-8x8-2p-2f-coop-v3`; the buffer holds four batches of copies of 40 played episodes). `learn_ahead` and
`overlap_learning` are off here: this script runs the schedules itself.

threads    alternating blocks of iterations (collect one episode, one update), three ways:
           serial: collect, then the whole update;
           backward beside: the loss's forward first, its backward on a side thread while the runner
           collects (the backward is one call into torch's autograd engine, which releases the GIL);
           update beside: the whole update prepared on a side thread while the runner collects
           (what `learn_ahead` does).
           Each is reported as env steps/s of the iterations and as a ratio to serial.
processes  the update loop and the collection loop each alone, then both at once in two processes (no GIL
           shared): ms per update and per episode. An overlapped iteration cannot take less than the
           slower of the two side by side, which bounds what a learner in its own process could gain:
           (update + episode alone) / max(update, episode) side by side.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from run import Experiment, prepare_args
from tools.bench.speed import EPYMARL_QMIX, fill_buffer, make_config
from utils.config_loader import split_with
from utils.logging import Logger, get_console_logger

TASK = "env_args.key=Foraging-8x8-2p-2f-coop-v3"


def build(overrides: list[str]) -> Experiment:
    """An experiment with EPyMARL's QMIX settings (then `overrides`), its buffer holding four batches of played episodes."""
    config = make_config("qmix", "lbf", [*EPYMARL_QMIX, TASK, "act_backend=numpy", *overrides, "learn_ahead=False", "overlap_learning=False"])
    console = get_console_logger("bench")
    console.setLevel("WARNING")
    exp = Experiment(prepare_args(dict(config), console, "/tmp/bench_results", "bench"), Logger(console))
    fill_buffer(exp.buffer, [exp.runner.run() for _ in range(40)], 4 * exp.args.batch_size)
    return exp


def thread_schedules(exp: Experiment, side: ThreadPoolExecutor) -> dict[str, Any]:
    """The three schedules of one iteration (see the module docstring), by name."""
    runner, learner, buffer, size = exp.runner, exp.learner, exp.buffer, exp.args.batch_size

    def serial() -> None:
        runner.run()
        learner.train(buffer.sample(size), runner.t_env, 1)

    def backward_beside() -> None:
        loss, _ = learner.td_loss(buffer.sample(size))
        learner.optimiser.zero_grad(set_to_none=True)
        backward = side.submit(loss.backward)
        runner.run()
        backward.result()
        torch.nn.utils.clip_grad_norm_(learner.params, exp.args.grad_norm_clip)
        learner.optimiser.step()

    def update_beside() -> None:
        prepared = side.submit(learner.prepare_update, buffer.sample(size))
        runner.run()
        learner.apply_update(prepared.result(), runner.t_env, 1)

    return {"serial": serial, "backward beside": backward_beside, "update beside": update_beside}


def measure_threads(exp: Experiment, blocks: int, per_block: int = 5) -> None:
    with ThreadPoolExecutor(max_workers=1) as side:
        schedules = thread_schedules(exp, side)
        seconds: collections.Counter[str] = collections.Counter()
        steps: collections.Counter[str] = collections.Counter()
        for run_one in schedules.values():
            for _ in range(3):
                run_one()
        for _ in range(blocks):
            for name, run_one in schedules.items():
                t0, start = exp.runner.t_env, time.perf_counter()
                for _ in range(per_block):
                    run_one()
                seconds[name] += time.perf_counter() - start
                steps[name] += exp.runner.t_env - t0
    serial_rate = steps["serial"] / seconds["serial"]
    print("threads (one episode and one update an iteration, alternating blocks):")
    for name in schedules:
        rate = steps[name] / seconds[name]
        print(f"  {name:16s} {rate:6.0f} env steps/s   {rate / serial_rate:.2f}x serial")


def loop(exp: Experiment, role: str, seconds: float) -> float:
    """ms per update (`learn`) or per episode (`collect`) over `seconds` of that loop alone."""
    batch = exp.buffer.sample(exp.args.batch_size)
    step = (lambda: exp.learner.train(batch, exp.runner.t_env, 1)) if role == "learn" else exp.runner.run
    for _ in range(5):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return (time.perf_counter() - start) / n * 1e3


def measure_processes(seconds: float, overrides: list[str]) -> None:
    def launch(role: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tools.bench.overlap", "--role", role, "--seconds", str(seconds), "with", *overrides],
                                stdout=subprocess.PIPE, text=True)

    def ms(processes: list[subprocess.Popen]) -> list[float]:
        outs = [p.communicate()[0] for p in processes]
        if any(p.returncode for p in processes):
            raise RuntimeError(f"a measuring process failed: {outs}")
        return [float(out.split()[-1]) for out in outs]

    alone = [ms([launch("learn")])[0], ms([launch("collect")])[0]]
    together = ms([launch("learn"), launch("collect")])
    print("processes (ms per update, ms per episode):")
    print(f"  alone          {alone[0]:6.2f}  {alone[1]:6.2f}")
    print(f"  side by side   {together[0]:6.2f}  {together[1]:6.2f}")
    print(f"  bound on an overlapped iteration: {sum(alone):.2f} ms serial / {max(together):.2f} ms = "
          f"{sum(alone) / max(together):.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=20, help="alternating blocks of 5 iterations per thread schedule")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each process loop")
    parser.add_argument("--role", choices=("learn", "collect"), help=argparse.SUPPRESS)
    argv, overrides = split_with(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.role:
        print(f"ms {loop(build(overrides), args.role, args.seconds):.3f}")
        return 0
    measure_threads(build(overrides), args.blocks)
    measure_processes(args.seconds, overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
