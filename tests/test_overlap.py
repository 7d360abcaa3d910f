"""`overlap_learning`: learner updates on a background thread while the next episodes are collected."""

import pytest
import torch

import main
from test_checkpoint import build_experiment
from utils.background import BackgroundCall


def test_background_call_reraises_in_the_caller_and_requires_a_join():
    call = BackgroundCall()
    call.start(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="has not been joined"):
        call.start(lambda: None)
    with pytest.raises(ZeroDivisionError):
        call.join()
    call.join()  # nothing running: a no-op


@pytest.mark.parametrize("alg", ["qmix", "salemb"])
def test_overlapped_runs_train_and_qmix_is_reproducible(run_main, alg):
    _, first = run_main(alg, "lbf", "overlap_learning=True", "imagine_start=0")
    assert "loss_td" in first and "test_return_mean" in first
    if alg == "qmix":  # the learner thread draws no torch random numbers: same seed, same run
        _, second = run_main(alg, "lbf", "overlap_learning=True")
        assert first["loss_td"] == second["loss_td"] and first["return_mean"] == second["return_mean"]


def test_the_acting_copy_takes_the_weights_after_each_update(tmp_path):
    from conftest import FAST

    config = main.prepare_config(["--config=qmix", "--env-config=lbf", "with", *FAST, "seed=1", "overlap_learning=True"])
    exp = build_experiment(config, tmp_path)
    try:
        assert exp.parts.acting_mac is not exp.parts.mac and exp.runner.mac is exp.parts.acting_mac
        before = [p.clone() for p in exp.parts.acting_mac.parameters()]
        while exp.learner.train_steps == 0:
            exp.iteration(0.0, 0)
            exp.schedule.finish_learning()
        after = list(exp.parts.acting_mac.parameters())
        assert all(torch.equal(a, b) for a, b in zip(after, exp.parts.mac.parameters()))
        assert not all(torch.equal(a, b) for a, b in zip(after, before))
    finally:
        exp.runner.close_env()
