"""The MaMuJoCo adapter (gymnasium-robotics) and facmac, facmac_vdn and salemb trained on it end to end."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")

from args_helper import applicable
from envs.mamujoco import MaMuJoCoEnv, choose_gl_backend  # noqa: E402
from utils.errors import ConfigError  # noqa: E402

SHORT = ["env_args.max_episode_steps=30", "start_steps=40", "imagine_start=0", "t_max=90", "test_interval=60",
         "log_interval=60", "runner_log_interval=60", "learner_log_interval=60", "test_nepisode=1", "batch_size=16",
         "actor_hidden_dim=32", "critic_hidden_dim=32", "wm_batch_size=4", "imagine_batch_size=4"]


def test_halfcheetah_2x3_shapes_state_and_action_spaces():
    env = MaMuJoCoEnv("HalfCheetah", "2x3", agent_obsk=1, seed=0)
    info = env.get_env_info()
    assert (info["n_agents"], info["obs_shape"], info["state_shape"], info["n_actions"], info["episode_limit"]) == (2, 12, 17, 3, 1000)
    assert [(s.shape, float(s.low[0]), float(s.high[0])) for s in info["action_spaces"]] == [((3,), -1.0, 1.0)] * 2
    env.reset()
    obs, state = env.get_obs(), env.get_state()
    assert len(obs) == 2 and all(o.shape == (12,) and o.dtype == np.float32 for o in obs)
    assert state.dtype == np.float32 and np.allclose(state, env._env.single_agent_env.unwrapped._get_obs())
    assert np.array_equal(np.asarray(env.get_avail_actions()), np.ones((2, 3)))
    reward, done, step_info = env.step(np.zeros((2, 3)))
    assert isinstance(reward, float) and not done and step_info == {"episode_limit": False}
    assert not np.allclose(env.get_state(), state)
    env.close()


def test_same_seed_same_episode_and_padded_observations():
    starts = []
    for seed in (4, 4, 5):
        env = MaMuJoCoEnv("HalfCheetah", "6x1", agent_obsk=1, seed=seed)
        env.reset()
        starts.append(np.asarray(env.get_obs()))
        env.close()
    assert np.array_equal(starts[0], starts[1]) and not np.allclose(starts[0], starts[2])
    sizes = [9, 9, 8, 9, 9, 8]  # agents see different neighbourhoods: shorter ones are zero-padded
    assert starts[0].shape == (6, 9) and np.all(starts[0][[2, 5], 8] == 0) and np.all(starts[0][[0, 1], 8] != 0)
    assert [int(env._obs_sizes[i]) for i in range(6)] == sizes


def test_rng_state_restores_the_next_episodes():
    first = MaMuJoCoEnv("HalfCheetah", "2x3", seed=2)
    first.reset()
    first.step(np.ones((2, 3)))
    state = first.get_rng_state()
    first.reset()
    later = MaMuJoCoEnv("HalfCheetah", "2x3", seed=99)
    later.set_rng_state(state)
    later.reset()
    assert np.array_equal(np.asarray(later.get_obs()), np.asarray(first.get_obs()))
    assert np.array_equal(later.get_state(), first.get_state())


def test_time_limit_bootstraps_but_falling_over_terminates():
    cheetah = MaMuJoCoEnv("HalfCheetah", "2x3", seed=0, max_episode_steps=5)
    cheetah.reset()
    ends = [cheetah.step(np.zeros((2, 3)))[1:] for _ in range(5)]
    assert [done for done, _ in ends] == [False] * 4 + [True] and ends[-1][1] == {"episode_limit": True}
    hopper = MaMuJoCoEnv("Hopper", "3x1", seed=0)
    hopper.reset()
    steps, done = 0, False
    while not done:
        _, done, info = hopper.step(np.ones((3, 1)))  # full torque on every joint: it falls within a few dozen steps
        steps += 1
    assert steps < 100 and info == {"episode_limit": False}


def test_bad_scenario_or_partition_is_a_clear_error():
    with pytest.raises(ConfigError, match="scenario 'HalfCheeta' is unknown; valid: Ant, HalfCheetah"):
        MaMuJoCoEnv("HalfCheeta", "2x3")
    with pytest.raises(ConfigError, match="no agent_conf '2x4' for HalfCheetah .* standard ones: HalfCheetah 2x3"):
        MaMuJoCoEnv("HalfCheetah", "2x4")


def sacred_metrics(root: Path, alg: str) -> dict:
    runs = list((root / "sacred" / "HalfCheetah-2x3" / alg).glob("[0-9]*"))
    assert len(runs) == 1, runs
    return json.loads((runs[0] / "metrics.json").read_text())


@pytest.mark.parametrize("alg, overrides, extra_metrics", [
    ("facmac", [], []),
    ("facmac_vdn", ["runner=parallel", "batch_size_run=2"], []),
    ("salemb", [], ["loss_sale", "wm_loss", "loss_td_imagined", "imagined_return_mean"]),
])
def test_training_on_halfcheetah_2x3(run_main, tmp_path, alg, overrides, extra_metrics):
    config, stats = run_main(alg, "mamujoco", *SHORT, *overrides)
    metrics = sacred_metrics(tmp_path, alg)
    for key in ["loss_td", "loss_actor", "q_taken_mean", "return_mean", "test_return_mean", *extra_metrics]:
        assert key in metrics and np.all(np.isfinite(metrics[key]["values"])), key
    assert stats["ep_length_mean"] == 30 and stats["episode_limit_mean"] == 1.0  # time-outs, bootstrapped
    assert stats["episode"] == 4  # 4 episodes of 30 steps pass t_max=90


def test_evaluate_renders_a_gif_headless(run_main, tmp_path):
    if choose_gl_backend() is None:
        pytest.skip("no headless OpenGL (EGL or OSMesa) on this machine")
    from PIL import Image

    run_main("facmac", "mamujoco", *SHORT, "t_max=30", "save_model=True")
    (models,) = (tmp_path / "models").iterdir()
    run_main("facmac", "mamujoco", *SHORT, "evaluate=True", f"checkpoint_path={models}", "render=True",
             "env_args.render_every=10", "env_args.width=48", "env_args.height=40")
    gifs = list((tmp_path / "renders").glob("*.gif"))
    assert len(gifs) == 1
    with Image.open(gifs[0]) as gif:
        assert gif.size == (48, 40) and gif.n_frames == 4  # steps 0, 10, 20, 30 of the 30-step test episode
        first = np.asarray(gif.convert("RGB"))
    assert first.std() > 0  # a drawn scene, not a blank image


def run_dir_of(results: Path) -> Path:
    (run_dir,) = [p for p in (results / "sacred").glob("*/*/*") if p.name.isdigit()]
    return run_dir


@pytest.mark.parametrize("alg, extra", [("facmac", []), ("salemb", ["updates_per_env_step=0.25"])])
def test_resumed_run_reproduces_the_uninterrupted_curve(tmp_path, alg, extra):
    import main
    from tools.analysis.metrics_diff import compare_metrics, read_metrics
    from utils.checkpoint import list_checkpoints

    def run(results: Path, t_max: int) -> Path:
        argv = [f"--config={alg}", "--env-config=mamujoco", "with", *applicable(alg, "mamujoco", [
            *SHORT, *extra, f"t_max={t_max}", "seed=5", "use_cuda=False", "save_model=True", "save_model_interval=60",
            "save_buffer=True", "runner_log_interval=30", "learner_log_interval=30", f"local_results_path={results}"])]
        main.run_experiment(main.prepare_config(argv))
        return run_dir_of(results)

    reference = run(tmp_path / "ref", 180)
    interrupted = run(tmp_path / "cut", 90)
    step = max(list_checkpoints((interrupted / "model_dir.txt").read_text().strip()))
    assert 60 <= step < 180
    main.run_experiment(main.prepare_config(["with", f"resume={interrupted}", "t_max=180"]))
    ref, got = read_metrics(reference), read_metrics(interrupted)
    diff = compare_metrics(ref, got)
    assert diff.curves_match, diff.summary()
    assert ref["loss_td"]["steps"][-1] > step and ref["loss_actor"]["steps"][-1] > step
