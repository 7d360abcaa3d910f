"""tools/bench/phases.py and tools/bench/overlap.py: every phase and schedule is timed, and the phase
timer leaves the classes it wrapped as they were."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from components.update_schedule import UpdateSchedule
from run import Experiment
from runners.episode_runner import EpisodeRunner
from tools.bench import overlap, phases

TINY = ["t_max=300", "batch_size=4", "buffer_size=16", "test_nepisode=2", "test_interval=100000", "use_tensorboard=False",
        "save_model=False", "use_cuda=False"]


def test_phases_time_a_real_run_part_by_part_and_unwrap(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    originals = (Experiment.__init__, EpisodeRunner.run, UpdateSchedule.learn_after_collection)
    code = phases.main(["--config", "qmix", "--env-config", "lbf", "with", *TINY, f"local_results_path={tmp_path}",
                        "env_args.key=Foraging-5x5-2p-1f-v3"])
    assert code == 0
    assert (Experiment.__init__, EpisodeRunner.run, UpdateSchedule.learn_after_collection) == originals
    table = capsys.readouterr().out.split("phase")[-1]
    rows = {line[:20].strip(): line[20:].split() for line in table.strip().splitlines()[1:]}
    assert set(rows) == {"whole process", "building the run", "collection", "tests", "learning", "start-up and other"}
    assert rows["building the run"][2] == "1"
    assert rows["tests"][2] == "4"  # test_nepisode=2 at the start and at the end, one env
    assert int(rows["collection"][2]) == int(rows["learning"][2]) >= 6  # one schedule call per collection
    parts = [float(v[0]) for k, v in rows.items() if k != "whole process"]
    # each figure is printed to 0.01 s: the printed parts' sum may be off the printed whole by half a
    # hundredth for each of them and for the whole
    assert sum(parts) == pytest.approx(float(rows["whole process"][0]), abs=0.005 * (len(parts) + 1) + 1e-9)


def test_phase_timer_counts_calls_under_the_phase_its_arguments_name() -> None:
    class Worker:
        def run(self, test_mode: bool = False) -> str:
            return "done"

    with phases.PhaseTimer() as timer:
        timer.wrap(Worker, "run", phases.runner_phase)
        worker = Worker()
        assert [worker.run(), worker.run(test_mode=True), worker.run(True)] == ["done"] * 3
    assert timer.calls == {"collection": 1, "tests": 2}
    assert Worker.run.__name__ == "run" and Worker.run.__qualname__.endswith("Worker.run")
    assert "timed" not in repr(Worker.run)


def test_overlap_times_each_schedule_against_serial(capsys: pytest.CaptureFixture[str]) -> None:
    exp = overlap.build(["batch_size=4", "buffer_size=50", "test_nepisode=1", "use_tensorboard=False"])
    try:
        assert exp.buffer.episodes_in_buffer == 16
        rates = overlap.measure(exp, blocks=1, per_block=1)
    finally:
        exp.runner.close_env()
    assert set(rates) == {"serial", "backward beside", "update beside", "learner process"} and min(rates.values()) > 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-2] == "1.00x" and len(lines) == 5


def test_the_learner_process_computes_the_gradients_the_learner_would() -> None:
    exp = overlap.build(["batch_size=4", "buffer_size=50", "use_tensorboard=False"])
    process = overlap.LearnerProcess(exp)
    try:
        exp.runner.run()
        exp.learner.train(overlap.sampled_batch(exp), 10, 1)  # weights stepped after the fork reach the process
        indices = exp.buffer.sample_indices(4)
        process.request(indices)
        theirs = process.result()
        grads = [p.grad.clone() for p in exp.learner.params]
        ours = exp.learner.prepare_update(overlap.sampled_batch(exp, indices))
    finally:
        process.close()
        exp.runner.close_env()
    assert torch.equal(theirs.loss, ours.loss.detach()) and torch.equal(theirs.grad_norm, ours.grad_norm)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, exp.learner.params))
