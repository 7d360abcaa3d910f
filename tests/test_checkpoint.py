import copy
import os

import pytest
import torch

import main
from run import Experiment
from utils.checkpoint import find_checkpoint, list_checkpoints, save_checkpoint
from utils.errors import ConfigError
from utils.logging import Logger, get_console_logger


def build_experiment(config, tmp_path, token="tok"):
    from types import SimpleNamespace

    args = SimpleNamespace(**copy.deepcopy(config))
    args.device = torch.device("cpu")
    args.unique_token = token
    args.results_dir = str(tmp_path)
    return Experiment(args, Logger(get_console_logger()))


def q_values(exp, batch):
    with torch.no_grad():
        return exp.parts.mac.unroll(batch)


def test_save_load_round_trip_gives_identical_q_values(run_main, tmp_path, capsys):
    config, _ = run_main("qmix", "lbf", "save_model=True", "save_model_interval=100", "save_buffer=True")
    root = tmp_path / "models"
    (token,) = os.listdir(root)
    steps = list_checkpoints(str(root / token))
    assert len(steps) >= 2
    step, folder = find_checkpoint(str(root / token))
    assert step == max(steps)
    for name in ("agent.th", "mixer.th", "opt.th", "state.th", "buffer.th"):
        assert os.path.isfile(os.path.join(folder, name)), name

    loaded_cfg = dict(config, checkpoint_path=str(root / token), evaluate=True)
    a = build_experiment(loaded_cfg, tmp_path, "a")
    a.checkpoints.load(str(root / token), 0)
    b = build_experiment(loaded_cfg, tmp_path, "b")
    batch = a.runner.run(test_mode=True)
    assert not torch.equal(q_values(a, batch), q_values(b, batch))  # fresh nets differ
    b.checkpoints.load(str(root / token), 0)
    assert torch.equal(q_values(a, batch), q_values(b, batch))
    assert torch.equal(
        a.learner.mixer.hyper_w_1[0].weight, b.learner.mixer.hyper_w_1[0].weight
    )
    assert b.runner.t_env == step
    a.runner.close_env()
    b.runner.close_env()

    capsys.readouterr()
    c = build_experiment(dict(config, checkpoint_path=str(root / token)), tmp_path, "c")
    c.checkpoints.load(str(root / token), 0)  # to train on: says that the replay buffer came back, and how full
    assert c.buffer.episodes_in_buffer > 0
    assert f"replay buffer restored ({c.buffer.episodes_in_buffer} episodes)" in capsys.readouterr().err
    c.runner.close_env()


def test_evaluate_mode_runs_test_episodes(run_main, tmp_path):
    run_main("vdn", "lbf", "save_model=True")
    (token,) = os.listdir(tmp_path / "models")
    argv = ["--config=vdn", "--env-config=lbf", "with", f"checkpoint_path={tmp_path / 'models' / token}", "evaluate=True",
            "test_nepisode=3", "use_cuda=False", f"local_results_path={tmp_path / 'eval'}"]
    stats = main.run_experiment(main.prepare_config(argv))
    assert "test_return_mean" in stats and "loss_td" not in stats


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    root = str(tmp_path / "m")
    for t in (10, 20, 30):
        save_checkpoint(root, t, {"state.th": {"t": t}}, keep=2)
    assert list_checkpoints(root) == [20, 30]
    os.makedirs(os.path.join(root, "40"))  # a folder without state.th is incomplete
    assert find_checkpoint(root)[0] == 30
    assert find_checkpoint(root, load_step=21)[0] == 20

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(root, 50, {"state.th": Boom()})
    assert sorted(os.listdir(root)) == ["20", "30", "40"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="holds no complete checkpoint"):
        find_checkpoint(str(tmp_path))
