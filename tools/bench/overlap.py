"""How much learning can overlap collection on this machine: the learner beside the acting loop, on a
thread and in a process of its own, against doing one after the other.

    python -m tools.bench.overlap                                   # EPyMARL's QMIX settings, numpy acting
    python -m tools.bench.overlap --blocks 30 with parallel_learner=False

One learner update per collected episode, as with EPyMARL's settings (`tools.bench.speed.EPYMARL_QMIX` on
`Foraging-8x8-2p-2f-coop-v3`; the buffer holds four batches of copies of 40 played episodes, and each update
samples its batch from it). `learn_ahead` and `overlap_learning` are off: this script runs the schedules
itself, in alternating blocks of 5 iterations, and reports each one's env steps/s and its ratio to serial:

serial            collect, then the whole update;
backward beside   the loss's forward first, its backward on a side thread while the runner collects (one
                  call into torch's autograd engine, which releases the GIL);
update beside     the whole update prepared on a side thread while the runner collects (what `learn_ahead`
                  does);
learner process   the update's gradients computed by a forked process while the runner collects: the
                  buffer, the networks and the gradients in shared memory, only the batch's indices and
                  the loss's statistics sent through a pipe (no GIL shared).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch
from learners.q_learner import PreparedUpdate
from run import Experiment, prepare_args
from tools.bench.speed import EPYMARL_QMIX, fill_buffer, make_config
from utils.config_loader import split_with
from utils.logging import Logger, get_console_logger

TASK = "env_args.key=Foraging-8x8-2p-2f-coop-v3"
STATS = ("q_taken_mean", "target_mean", "td_error_abs", "episode_td_abs", "n_td")


def build(overrides: list[str]) -> Experiment:
    """An experiment with EPyMARL's QMIX settings (then `overrides`), its buffer holding four batches of played episodes."""
    config = make_config("qmix", "lbf", [*EPYMARL_QMIX, TASK, "act_backend=numpy", *overrides, "learn_ahead=False", "overlap_learning=False"])
    console = get_console_logger("bench")
    console.setLevel("WARNING")
    exp = Experiment(prepare_args(dict(config), console, "/tmp/bench_results", "bench"), Logger(console))
    fill_buffer(exp.buffer, [exp.runner.run() for _ in range(40)], 4 * exp.args.batch_size)
    return exp


def sampled_batch(exp: Experiment, indices: np.ndarray | None = None) -> EpisodeBatch:
    """The batch at `indices` (or a fresh uniform sample), cut to its longest episode, as the loop learns on."""
    batch = exp.buffer[indices] if indices is not None else exp.buffer.sample(exp.args.batch_size)
    return batch[:, : batch.max_t_filled()]


class LearnerProcess:
    """A forked copy of the learner that computes an update's gradients on request. The buffer's tensors
    and the networks' parameters are moved to shared memory first, so the process reads the episodes the
    parent inserts and the weights its optimiser steps; the gradients come back through shared tensors."""

    def __init__(self, exp: Experiment):
        self.exp = exp
        for tensor in [*exp.buffer.transition_data.values(), *exp.buffer.episode_data.values()]:
            tensor.share_memory_()
        learner = exp.learner
        for module in (learner.mac.agent, learner.target_mac.agent, learner.mixer, learner.target_mixer):
            if module is not None:
                module.share_memory()
        self.grads = [torch.zeros_like(p).share_memory_() for p in learner.params]
        fork = mp.get_context("fork")
        self.conn, child = fork.Pipe()
        self.process = fork.Process(target=self._serve, args=(child,), daemon=True)
        self.process.start()

    def _serve(self, conn: Connection) -> None:
        learner = self.exp.learner
        while (indices := conn.recv()) is not None:
            prepared = learner.prepare_update(sampled_batch(self.exp, indices))
            for shared, p in zip(self.grads, learner.params):
                shared.copy_(p.grad)
            conn.send((prepared.loss.detach(), prepared.grad_norm, {k: prepared.info[k].detach() for k in STATS}))

    def request(self, indices: np.ndarray) -> None:
        self.conn.send(indices)

    def result(self) -> PreparedUpdate:
        """The requested update, its gradients in the learner's parameters."""
        loss, grad_norm, info = self.conn.recv()
        for p, shared in zip(self.exp.learner.params, self.grads):
            p.grad = shared.clone()
        return PreparedUpdate(loss, grad_norm, info, None)

    def close(self) -> None:
        self.conn.send(None)
        self.process.join()


def schedules(exp: Experiment, side: ThreadPoolExecutor, process: LearnerProcess) -> dict[str, Callable[[], None]]:
    """The four schedules of one iteration (see the module docstring), by name."""
    runner, learner = exp.runner, exp.learner

    def serial() -> None:
        runner.run()
        learner.train(sampled_batch(exp), runner.t_env, 1)

    def backward_beside() -> None:
        loss, _ = learner.td_loss(sampled_batch(exp))
        learner.optimiser.zero_grad(set_to_none=True)
        backward = side.submit(loss.backward)
        runner.run()
        backward.result()
        torch.nn.utils.clip_grad_norm_(learner.params, exp.args.grad_norm_clip)
        learner.optimiser.step()

    def update_beside() -> None:
        prepared = side.submit(learner.prepare_update, sampled_batch(exp))
        runner.run()
        learner.apply_update(prepared.result(), runner.t_env, 1)

    def learner_process() -> None:
        process.request(exp.buffer.sample_indices(exp.args.batch_size))
        runner.run()
        learner.apply_update(process.result(), runner.t_env, 1)

    return {"serial": serial, "backward beside": backward_beside, "update beside": update_beside, "learner process": learner_process}


def measure(exp: Experiment, blocks: int, per_block: int = 5) -> dict[str, float]:
    """Env steps/s of each schedule over `blocks` alternating blocks of `per_block` iterations, printed
    with its ratio to serial."""
    process = LearnerProcess(exp)  # forked before any thread of this process starts
    seconds: collections.Counter[str] = collections.Counter()
    steps: collections.Counter[str] = collections.Counter()
    try:
        with ThreadPoolExecutor(max_workers=1) as side:
            iterations = schedules(exp, side, process)
            for run_one in iterations.values():
                for _ in range(2):
                    run_one()
            for _ in range(blocks):
                for name, run_one in iterations.items():
                    t0, start = exp.runner.t_env, time.perf_counter()
                    for _ in range(per_block):
                        run_one()
                    seconds[name] += time.perf_counter() - start
                    steps[name] += exp.runner.t_env - t0
    finally:
        process.close()
    rates = {name: steps[name] / seconds[name] for name in iterations}
    print("one episode and one update an iteration, alternating blocks:")
    for name, rate in rates.items():
        print(f"  {name:16s} {rate:6.0f} env steps/s   {rate / rates['serial']:.2f}x serial")
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=20, help="alternating blocks of 5 iterations per schedule")
    argv, overrides = split_with(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    exp = build(overrides)
    try:
        measure(exp, args.blocks)
    finally:
        exp.runner.close_env()
    return 0


if __name__ == "__main__":
    sys.exit(main())
