import functools
import pickle
import sys
from types import ModuleType

import numpy as np
import pytest
import torch

from args_helper import run_args
from components.scheme import build_scheme
from controllers import REGISTRY as mac_REGISTRY
from runners import REGISTRY as runner_REGISTRY
from runners.env_group import (
    EnvWorkerError,
    SubprocEnvs,
    decode_array,
    default_start_method,
    encode_array,
    pack_replies,
    unpack_replies,
)
from toy_env import ToyEnv
from utils.logging import Logger, get_console_logger


def make_args(**kw):
    base = dict(
        env="toy", env_args={"seed": 5, "limit": 5}, batch_size_run=2, test_nepisode=2, runner_log_interval=1,
        n_agents=2, n_actions=3, agent="rnn", rnn_hidden_dim=8, obs_last_action=True, obs_agent_id=True,
        action_selector="epsilon_greedy", epsilon_start=1.0, epsilon_finish=0.05, epsilon_anneal_time=100,
    )
    base.update(kw)
    return run_args(**base)


def make_runner(kind, **kw):
    args = make_args(**kw)
    runner = runner_REGISTRY[kind](args, Logger(get_console_logger()))
    scheme, groups, preprocess = build_scheme(runner.get_env_info())
    from components.episode_buffer import EpisodeBatch

    full_scheme = EpisodeBatch(scheme, groups, 1, 2, preprocess=preprocess).scheme
    mac = mac_REGISTRY["basic_mac"](full_scheme, groups, args)
    runner.setup(scheme, groups, preprocess, mac)
    return runner


@pytest.mark.parametrize("kind", ["episode", "parallel"])
def test_time_limit_is_stored_as_not_terminated(toy_env_registered, kind):
    runner = make_runner(kind)
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    assert batch["filled"][:, :, 0].tolist() == [[1] * 6] * 2  # 5 steps + final observation
    assert batch["terminated"].sum() == 0
    assert runner.t_env == 10
    # the final observation (t = 5) is written for bootstrapping
    assert torch.allclose(batch["obs"][:, 5, :, 0], torch.ones(2, 2))


@pytest.mark.parametrize("kind", ["episode", "parallel"])
def test_true_termination_and_padding(toy_env_registered, kind):
    runner = make_runner(kind, env_args={"seed": 5, "limit": 5, "terminate_at": 3})
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    assert batch["terminated"][:, :, 0].tolist() == [[0, 0, 1, 0, 0, 0]] * 2
    assert batch["filled"][:, :, 0].tolist() == [[1, 1, 1, 1, 0, 0]] * 2
    assert runner.logger.latest("won_mean") == 1.0


def test_parallel_workers_get_seed_plus_index(toy_env_registered):
    runner = make_runner("parallel", env_args={"seed": 5, "limit": 5})
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    assert batch["state"][0, 0, 2].item() == 5 and batch["state"][1, 0, 2].item() == 6


@pytest.mark.parametrize("per_worker", [1, 2, 3])
def test_episode_and_parallel_runners_collect_identical_data(toy_env_registered, per_worker):
    out = []
    for kind in ("episode", "parallel"):
        torch.manual_seed(0)
        runner = make_runner(kind, batch_size_run=3, envs_per_worker=per_worker,
                             env_args={"seed": 5, "limit": 6, "terminate_at": 4})
        try:
            out.append([runner.run(), runner.run()])
        finally:
            runner.close_env()
    if per_worker > 1:
        assert len(runner.envs.procs) == -(-3 // per_worker)
    for first, second in zip(*out):
        for key in ("obs", "state", "actions", "reward", "filled", "terminated"):
            assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("kind", ["episode", "parallel"])
def test_acting_runs_in_inference_mode_and_stores_tensors_autograd_can_use(toy_env_registered, kind):
    """The acting loop runs in inference mode (its hidden state is an inference tensor), but what it
    stores is written into the batch's own tensors, which a learner's graph must be able to save."""
    runner = make_runner(kind, env_args={"seed": 5, "limit": 6, "terminate_at": 4})
    try:
        batch = runner.run()
    finally:
        runner.close_env()
    assert runner.mac.hidden_states.is_inference()
    assert not any(v.is_inference() for v in batch.transition_data.values())
    weight = torch.ones(batch["obs"].shape[-1], requires_grad=True)
    (batch["obs"] * weight).sum().backward()  # saves obs for backward: refused for an inference tensor
    assert torch.equal(weight.grad, batch["obs"].sum(dim=(0, 1, 2)))


def _toy(i, restarts, **kw):
    return ToyEnv(seed=i, **kw)


def test_worker_exception_reaches_parent_with_traceback():
    envs = SubprocEnvs(functools.partial(_toy, crash_at=2), 2)
    try:
        envs.reset()
        envs.step([0, 1], np.zeros((2, 2), dtype=np.int64))
        with pytest.raises(EnvWorkerError) as info:
            envs.step([0, 1], np.zeros((2, 2), dtype=np.int64))
        text = str(info.value)
        assert info.value.index == 0
        assert "env worker 0 failed in 'step': RuntimeError: toy env crashed at step 2" in text
        assert "worker traceback" in text and "toy_env.py" in text
        assert not envs.procs[0].is_alive()
    finally:
        envs.close()
    assert all(not p.is_alive() for p in envs.procs)


def _toy_env_3_crashes(i, restarts):
    return ToyEnv(seed=i, crash_at=2 if i == 3 else None)


def test_grouped_worker_failure_names_the_env_and_all_envs_of_its_worker():
    envs = SubprocEnvs(_toy_env_3_crashes, 5, envs_per_worker=2)
    try:
        assert len(envs) == 5 and envs.groups == [[0, 1], [2, 3], [4]]
        first = envs.reset()
        assert [d["state"][2] for d in first] == [0, 1, 2, 3, 4]  # seed i, in env order
        envs.step([0, 1, 2, 3, 4], np.zeros((5, 2), dtype=np.int64))
        with pytest.raises(EnvWorkerError) as info:
            envs.step([4, 3, 2], np.zeros((3, 2), dtype=np.int64))
        assert info.value.index == 3 and info.value.indices == [2, 3]
        assert "env worker 1 (envs 2, 3) failed in 'step' (env 3): RuntimeError: toy env crashed at step 2" in str(info.value)
        envs.restart(2)
        envs.restart(3)  # the worker was restarted for env 2 already
        assert envs.procs[1].is_alive() and envs.procs[0].is_alive()
        again = envs.reset()
        np.testing.assert_array_equal(again[2]["obs"], first[2]["obs"])
        replies = envs.step([4, 0], np.ones((2, 2), dtype=np.int64))
        assert [r["state"][2] for r in replies] == [4, 0]  # replies follow the order asked
    finally:
        envs.close()


def test_envs_per_worker_below_one_is_refused():
    with pytest.raises(ValueError, match="envs_per_worker must be >= 1, got 0"):
        SubprocEnvs(_toy, 2, envs_per_worker=0)


def test_worker_that_dies_is_reported_not_hung():
    envs = SubprocEnvs(functools.partial(_toy, exit_at=1), 2)
    try:
        envs.reset()
        with pytest.raises(EnvWorkerError, match=r"env worker 0 died during 'step' without a reply \(exit code 3\)"):
            envs.step([0, 1], np.zeros((2, 2), dtype=np.int64))
    finally:
        envs.close()


def test_workers_are_spawned_not_forked_once_jax_is_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    assert default_start_method() == "fork"
    monkeypatch.setitem(sys.modules, "jax", ModuleType("jax"))
    assert default_start_method() == "spawn"


def test_spawned_workers_step_like_forked_ones():
    replies = []
    for method in ("fork", "spawn"):
        envs = SubprocEnvs(functools.partial(_toy), 2, start_method=method)
        try:
            first = envs.reset()
            step = envs.step([0, 1], np.ones((2, 2), dtype=np.int64))
        finally:
            envs.close()
        assert envs.ctx.get_start_method() == method
        replies.append((first, step))
    (first_fork, step_fork), (first_spawn, step_spawn) = replies
    for a, b in zip(first_fork + step_fork, first_spawn + step_spawn):
        np.testing.assert_array_equal(a["obs"], b["obs"])
        np.testing.assert_array_equal(a["state"], b["state"])


def test_train_stats_log_the_training_epsilon_after_a_test_and_a_resume(toy_env_registered):
    runner = make_runner("episode", env_args={"seed": 5, "limit": 5}, runner_log_interval=10**9, test_nepisode=10**9)
    runner.t_env = 60
    runner.run(test_mode=False)  # played at t_env 60: epsilon 1 - 0.95 * 60 / 100 = 0.43
    runner.run(test_mode=True)   # the selector's epsilon is the test's now
    state = runner.state_dict()
    fresh = make_runner("episode", env_args={"seed": 5, "limit": 5}, runner_log_interval=10**9, test_nepisode=10**9)
    fresh.load_state_dict(state)
    for r in (runner, fresh):
        r.log_train_stats()
        assert r.logger.stats["epsilon"][-1][1] == pytest.approx(0.43)
        r.close_env()


def test_packed_replies_keep_every_array_and_value():
    rng = np.random.default_rng(0)
    replies = [{"state": rng.normal(size=5).astype(np.float32), "avail_actions": rng.integers(0, 2, (3, 4)),
                "obs": rng.normal(size=(3, 6)), "reward": float(i), "terminated": i == 1, "info": {"won": i}} for i in range(3)]
    unpacked = unpack_replies(pickle.loads(pickle.dumps(pack_replies(replies))))
    assert len(unpacked) == 3
    for got, sent in zip(unpacked, replies):
        assert got.keys() == sent.keys()
        for k in ("state", "avail_actions", "obs"):
            assert got[k].dtype == sent[k].dtype and got[k].shape == sent[k].shape
            np.testing.assert_array_equal(got[k], sent[k])
        assert (got["reward"], got["terminated"], got["info"]) == (sent["reward"], sent["terminated"], sent["info"])


def test_encoded_arrays_keep_dtype_shape_and_bytes():
    for a in (np.arange(12, dtype=np.int64).reshape(3, 4), np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)[:, ::2]):
        got = decode_array(encode_array(a))
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)
