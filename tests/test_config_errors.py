"""Malformed configs: each fails before the run starts with a message naming the key, the bad value and
what would be valid."""

from __future__ import annotations

import pytest

import main
from utils.errors import ConfigError

QMIX = ["--config=qmix", "--env-config=lbf", "with"]
SALEMB = ["--config=salemb", "--env-config=lbf", "with"]

# (argv, fragments that must all be in the message)
CASES = [
    (QMIX + ["t_max=-5"], ["t_max=-5", "out of range", ">= 1"]),
    (QMIX + ["t_max=0"], ["t_max=0", ">= 1"]),
    (QMIX + ["batch_size=64", "buffer_size=32"], ["batch_size=64", "buffer_size=32", "make buffer_size >= batch_size"]),
    (QMIX + ["mixer=qmixx"], ["mixer='qmixx'", "Did you mean 'qmix'", "Valid: qmix, qplex, vdn, null"]),
    (QMIX + ["runner=paralel"], ["runner='paralel'", "Did you mean 'parallel'", "episode", "parallel"]),
    (QMIX + ["runner=imagination"], ["runner='imagination'", "'episode' or 'parallel'"]),
    (QMIX + ["agent=mlp"], ["agent='mlp'", "not registered", "rnn", "sale_rnn"]),
    (QMIX + ["learner=sarsa"], ["learner='sarsa'", "q_learner", "salemb_learner"]),
    (QMIX + ["mac=central"], ["mac='central'", "basic_mac"]),
    (QMIX + ["action_selector=softmax"], ["action_selector='softmax'", "epsilon_greedy"]),
    (QMIX + ["env=mpe"], ["env='mpe'", "lbf", "sc2"]),
    (QMIX + ["env_args.sigth=2"], ["'sigth'", "does not accept", "Accepted:", "sight", "normalise_obs"]),
    (QMIX + ["env_args.key=Foraging-9x9-2p-3f-v4"], ["'Foraging-9x9-2p-3f-v4'", "Foraging{-2s}-{S}x{S}-{P}p-{F}f{-coop}-v3", "Closest:"]),
    (QMIX + ["env_args.state_type=partial"], ["env_args.state_type='partial'", "concat, full"]),
    (QMIX + ["env_args.time_limit=0"], ["env_args.time_limit=0", "positive int or null"]),
    (QMIX + ["env_args.sight=-1"], ["env_args.sight=-1", "an integer >= 1"]),
    (QMIX + ["env_args.max_num_food=0"], ["env_args.max_num_food=0", "an integer >= 1"]),
    (QMIX + ["env_args.normalise_obs=3"], ["env_args.normalise_obs=3", "true or false"]),
    (QMIX + ["env_args.obs_encoding=onehot"], ["env_args.obs_encoding='onehot'", "sentinel, presence"]),
    (QMIX + ["env_args.force_coop=maybe"], ["env_args.force_coop='maybe'", "true or false"]),
    (QMIX + ["env_args.max_episode_steps=20"], ["env_args.max_episode_steps", "env_args.time_limit"]),
    (QMIX + ["env_args.seed=3"], ["env_args.seed=3", "set seed=3"]),
    (QMIX + ["epsilon_start=1.5"], ["epsilon_start=1.5", "in [0, 1]"]),
    (QMIX + ["epsilon_finish=-0.1"], ["epsilon_finish=-0.1", "in [0, 1]"]),
    (QMIX + ["epsilon_start=0.5", "epsilon_finish=0.9"], ["epsilon_finish=0.9", "epsilon_start=0.5"]),
    (QMIX + ["epsilon_anneal_time=0"], ["epsilon_anneal_time=0", ">= 1"]),
    (QMIX + ["lr=fast"], ["lr='fast'", "wrong type", "a number"]),
    (QMIX + ["lr=0"], ["lr=0", "> 0"]),
    (QMIX + ["lr=1e400"], ["lr=inf", "a number"]),
    (QMIX + ["gamma=1.5"], ["gamma=1.5", "in [0, 1]"]),
    (QMIX + ["td_lambda=2"], ["td_lambda=2", "in [0, 1]"]),
    (QMIX + ["double_q=1"], ["double_q=1", "true/false"]),
    (QMIX + ["use_cuda=maybe"], ["use_cuda='maybe'", "true, false or auto"]),
    (QMIX + ["batch_size=2.5"], ["batch_size=2.5", "an integer"]),
    (QMIX + ["buffer_size=0"], ["buffer_size=0", ">= 1"]),
    (QMIX + ["batch_size_run=0"], ["batch_size_run=0", ">= 1"]),
    (QMIX + ["test_nepisode=-1"], ["test_nepisode=-1", ">= 0"]),
    (QMIX + ["runner=parallel", "envs_per_worker=0"], ["envs_per_worker=0", ">= 1"]),
    (QMIX + ["optimizer=sgd"], ["optimizer='sgd'", "adam, rmsprop"]),
    (QMIX + ["optimizer_impl=vectorised"], ["optimizer_impl='vectorised'", "foreach, for_loop, fused"]),
    (QMIX + ["act_backend=jax"], ["act_backend='jax'", "torch, numpy"]),
    (["--config=facmac", "--env-config=mamujoco", "with", "act_backend=numpy"], ["act_backend='numpy'", "torch"]),
    (SALEMB + ["sale_refresh_tau=2"], ["sale_refresh_tau=2", "in [0, 1]"]),
    (QMIX + ["sale_refresh_tau=0.5"], ["'sale_refresh_tau' belongs to learner=salemb_learner and learner=salemb_continuous_learner",
                                       "which this run does not select"]),
    (QMIX + ["target_update_mode=polyak"], ["target_update_mode='polyak'", "hard, soft"]),
    (QMIX + ["target_update_tau=0"], ["target_update_tau=0", "(0, 1]"]),
    (QMIX + ["hypernet_layers=3"], ["hypernet_layers=3", "1 or 2"]),
    (QMIX + ["seed=-1"], ["seed=-1", "[0, 2**32)"]),
    (QMIX + ["seed=abc"], ["seed='abc'", "int or null"]),
    (QMIX + ["env_args=3"], ["env_args=3", "a mapping"]),
    (QMIX + ["t_maxx=5"], ["'t_maxx'", "Did you mean 't_max'"]),
    (QMIX + ["nan_policy=ignore"], ["nan_policy='ignore'", "stop, skip_batch"]),
    (QMIX + ["max_env_restarts=-1"], ["max_env_restarts=-1", ">= 0"]),
    (QMIX + ["restart_failed_envs=maybe"], ["restart_failed_envs='maybe'", "true/false"]),
    (QMIX + ["keep_checkpoints=-2"], ["keep_checkpoints=-2", ">= 0"]),
    (QMIX + ["runner=parallel", "env_worker_timeout=0"], ["env_worker_timeout=0", "> 0 or null"]),
    (QMIX + ["evaluate=True"], ["evaluate=True", "checkpoint_path="]),
    (QMIX + ["checkpoint_path=/no/such/run"], ["checkpoint_path='/no/such/run'", "results/models/<run token>"]),
    (SALEMB + ["imagine_horizon=0"], ["imagine_horizon=0", ">= 1"]),
    (SALEMB + ["wm_kl_alpha=1.5"], ["wm_kl_alpha=1.5", "in [0, 1]"]),
    (SALEMB + ["agent=sale_rnn", "sale_activation=tanh"], ["sale_activation='tanh'", "elu, relu"]),
    (SALEMB + ["mixer_foresight=True", "use_world_model=False"], ["mixer_foresight=True", "use_world_model=True"]),
    (SALEMB + ["mixer_foresight=True", "mixer=vdn"], ["mixer_foresight=True", "mixer='vdn'", "mixer='qmix'"]),
    (["--config=qmx", "--env-config=lbf"], ["--config=qmx", "Did you mean 'qmix'", "Valid:"]),
    (["--config=qmix", "--env-config=lbff"], ["--env-config=lbff", "Did you mean 'lbf'"]),
    (["with", "resume=/no/such/run"], ["resume='/no/such/run'", "sacred run folder", "checkpoint folder"]),
]


@pytest.mark.parametrize("argv,fragments", CASES, ids=[" ".join(a[3:] if "with" in a[:3] else a) for a, _ in CASES])
def test_malformed_config_is_rejected_with_its_message(argv, fragments):
    with pytest.raises(ConfigError) as info:
        main.prepare_config(argv)
    missing = [f for f in fragments if f not in str(info.value)]
    assert not missing, f"{missing} not in: {info.value}"


def test_bad_env_arg_stops_before_the_run_starts(tmp_path, capsys):
    code = main.main(QMIX + ["env_args.sigth=2", f"local_results_path={tmp_path}"])
    assert code == 1
    assert "error: lbf env_args has 'sigth'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no sacred run folder, no checkpoint folder
