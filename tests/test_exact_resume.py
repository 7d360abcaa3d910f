"""A run resumed from a checkpoint (with the replay buffer saved) continues exactly as the uninterrupted
run with the same seed: every metric after the checkpoint step has the same value (CPU, fixed seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import main
from args_helper import applicable
from envs.lbf import LBFEnv
from runners.env_group import LocalEnvs, SubprocEnvs
from tools.analysis.metrics_diff import compare_metrics, read_metrics
from toy_env import ToyEnv
from utils.checkpoint import list_checkpoints

TINY = [
    "env_args.key=Foraging-5x5-2p-1f-v3", "test_interval=100", "log_interval=100", "runner_log_interval=70",
    "learner_log_interval=60", "test_nepisode=2", "batch_size=4", "buffer_size=12", "use_cuda=False",
    "rnn_hidden_dim=16", "save_model=True", "save_model_interval=90", "save_buffer=True", "seed=4",
]


def run(results: Path, alg: str, *overrides: str) -> Path:
    argv = [f"--config={alg}", "--env-config=lbf", "with", *applicable(alg, "lbf", [*TINY, f"local_results_path={results}", *overrides])]
    main.run_experiment(main.prepare_config(argv))
    (run_dir,) = [p for p in (results / "sacred").glob("*/*/*") if p.name.isdigit()]
    return run_dir


def resume(run_dir: Path, *overrides: str) -> None:
    main.run_experiment(main.prepare_config(["with", f"resume={run_dir}", *overrides]))


def episodes(env, n: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        env.reset()
        out.append(env.get_state().copy())
    return out


def test_lbf_rng_state_replays_the_same_episodes():
    env = LBFEnv(key="Foraging-8x8-2p-3f-v3", seed=3, state_type="full")
    episodes(env, 2)
    saved = env.get_rng_state()
    later = episodes(env, 3)
    fresh = LBFEnv(key="Foraging-8x8-2p-3f-v3", seed=3, state_type="full")
    assert not all(np.array_equal(a, b) for a, b in zip(episodes(fresh, 3), later))
    fresh.set_rng_state(saved)
    assert all(np.array_equal(a, b) for a, b in zip(episodes(fresh, 3), later))


def toy_env_at(index: int, restarts: int) -> ToyEnv:
    """A module-level factory: picklable for workers started with spawn (after JAX is loaded)."""
    return ToyEnv(seed=10 + index)


@pytest.mark.parametrize("group", [LocalEnvs, SubprocEnvs])
def test_env_groups_save_and_restore_every_envs_rng(group):
    envs = group(toy_env_at, 2)
    try:
        envs.reset()
        states = envs.get_rng_states()
        targets = [[d["state"][1] for d in envs.reset()] for _ in range(4)]
        envs.set_rng_states(states)
        assert [[d["state"][1] for d in envs.reset()] for _ in range(4)] == targets
        assert len({tuple(t) for t in targets}) > 1  # the targets do change from episode to episode
    finally:
        envs.close()


def assert_same_curves(reference: Path, resumed: Path, after: int) -> None:
    ref, got = read_metrics(reference), read_metrics(resumed)
    diff = compare_metrics(ref, got)
    assert diff.curves_match, diff.summary()
    later = [s for s in ref["return_mean"]["steps"] if s > after]
    assert later and ref["loss_td"]["steps"][-1] > after  # the comparison covers learning after the resume


@pytest.mark.parametrize(
    "alg,extra",
    [
        ("qmix", []),
        ("qmix", ["runner=parallel", "batch_size_run=2"]),
        ("qmix", ["act_backend=numpy"]),  # numpy acting's random stream is in the runner's state
        ("salemb", ["imagine_start=0", "wm_eval_interval=100", "sale_embed_dim=8", "sale_hidden_dim=16",
                    "wm_hidden_dim=16", "wm_deter_dim=16", "wm_latent_dim=8", "wm_sale_dim=8",
                    "imagine_batch_size=4", "wm_batch_size=4"]),
        ("salemb", ["imagine_start=0", "wm_eval_interval=100", "wm_eval_episodes=2", "sale_embed_dim=8", "sale_hidden_dim=16",
                    "wm_hidden_dim=16", "wm_latent_dim=8", "wm_sale_dim=8", "world_model=step_vae", "wm_train_ratio=3.5",
                    "wm_window=4", "wm_batch_size=4", "imagine_start_sampling=step", "imagine_weighting=transition",
                    "imagine_batch_size=16"]),
    ],
)
def test_resumed_run_reproduces_the_uninterrupted_curve(tmp_path, alg, extra):
    reference = run(tmp_path / "ref", alg, "t_max=400", *extra)
    interrupted = run(tmp_path / "cut", alg, "t_max=200", *extra)
    models = (interrupted / "model_dir.txt").read_text().strip()
    step = max(list_checkpoints(models))
    assert 200 < step < 400
    resume(interrupted, "t_max=400")
    assert_same_curves(reference, interrupted, after=step)


def test_learner_checkpoint_covers_every_salemb_part(tmp_path):
    """salemb's learner state holds the world model, both SALE encoder copies, the optimisers of each
    part and the reward statistics: loading it into a fresh learner gives identical parameters."""
    from test_checkpoint import build_experiment

    config = main.prepare_config(["--config=salemb_sale_agents", "--env-config=lbf", "with", *TINY, f"local_results_path={tmp_path}",
                                  "mixer_foresight=True", "t_max=150", "save_model=False"])
    a = build_experiment(config, tmp_path, "a")
    a.train()
    b = build_experiment(config, tmp_path, "b")
    b.learner.load_state_dict(a.learner.state_dict())
    parts = {
        "agent": (a.learner.mac.agent, b.learner.mac.agent), "target agent": (a.learner.target_mac.agent, b.learner.target_mac.agent),
        "mixer": (a.learner.mixer, b.learner.mixer), "target mixer": (a.learner.target_mixer, b.learner.target_mixer),
        "world model": (a.learner.world_model, b.learner.world_model), "foresight": (a.learner.foresight, b.learner.foresight),
    }
    for name, (x, y) in parts.items():
        xs, ys = x.state_dict(), y.state_dict()
        assert xs.keys() == ys.keys(), name
        assert all(torch.equal(xs[k], ys[k]) for k in xs), name
    assert any("fixed" in k for k in a.learner.mac.agent.state_dict())  # the fixed SALE copies are in the state
    for name, opt in a.learner.optimisers.items():
        assert opt.state_dict()["state"], name  # every optimiser has stepped and its moments are saved
        assert str(b.learner.optimisers[name].state_dict()["state"]) == str(opt.state_dict()["state"]), name
    assert torch.equal(a.learner.rew_ms.mean, b.learner.rew_ms.mean)
    assert b.learner.train_steps == a.learner.train_steps > 0
    a.runner.close_env()
    b.runner.close_env()
