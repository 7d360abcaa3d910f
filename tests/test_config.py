import subprocess
import sys
from pathlib import Path

import pytest

import main
from utils.config_loader import build_config, parse_value, split_with
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_merge_order_alg_over_env_over_default():
    cfg = build_config("qmix", "lbf", [])
    assert cfg["lr"] == 0.001            # alg overrides default (5e-4)
    assert cfg["test_interval"] == 25000  # env overrides default (2000)
    assert cfg["mixer"] == "qmix" and cfg["env"] == "lbf"
    assert cfg["grad_norm_clip"] == 10    # default survives


def test_base_inheritance_and_nested_overrides():
    cfg = build_config("vdn", "lbf", ["env_args.key=Foraging-5x5-2p-1f-v3", "t_max=1e5", "td_lambda=0.4"])
    assert cfg["mixer"] == "vdn" and cfg["lr"] == 0.001 and cfg["td_lambda"] == 0.4
    assert cfg["env_args"]["key"] == "Foraging-5x5-2p-1f-v3"
    assert cfg["env_args"]["state_type"] == "full" and cfg["env_args"]["obs_encoding"] == "sentinel"
    assert cfg["t_max"] == 100000 and isinstance(cfg["t_max"], int)


@pytest.mark.parametrize("text,value", [("3", 3), ("0.5", 0.5), ("True", True), ("null", None), ("None", None), ("2.5e5", 250000.0), ("3m", "3m")])
def test_parse_value(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--config=qmx", "--env-config=lbf"], "Did you mean 'qmix'"),
        (["--config=qmix", "--env-config=lbff"], "Did you mean 'lbf'"),
        (["--config=qmix"], "--env-config=ENV is required"),
        (["--config=qmix", "--env-config=lbf", "with", "t_maxx=5"], "unknown config key 't_maxx'. Did you mean 't_max'"),
        (["--config=qmix", "--env-config=lbf", "with", "t_max=-5"], "t_max=-5 is out of range: must be >= 1"),
        (["--config=qmix", "--env-config=lbf", "with", "lr=fast"], "lr='fast' has the wrong type"),
        (["--config=qmix", "--env-config=lbf", "with", "double_q=1"], "double_q=1 has the wrong type"),
        (["--config=qmix", "--env-config=lbf", "with", "batch_size=64", "buffer_size=32"], "larger than buffer_size=32"),
        (["--config=qmix", "--env-config=lbf", "with", "mixer=qmixx"], "mixer='qmixx' is not registered. Did you mean 'qmix'"),
        (["--config=qmix", "--env-config=lbf", "with", "runner=paralel"], "Did you mean 'parallel'"),
        (["--config=qmix", "--env-config=lbf", "with", "optimizer=sgd"], "optimizer='sgd' is not valid"),
        (["--config=qmix", "--env-config=lbf", "with", "gamma=1.5"], "gamma=1.5 is out of range"),
        (["--config=qmix", "--env-config=lbf", "with", "t_max"], "not of the form key=value"),
        (["--config=qmix", "--env-config=lbf", "t_max=5"], "overrides go after `with`"),
    ],
)
def test_bad_input_messages(argv, message):
    with pytest.raises(ConfigError) as info:
        main.prepare_config(argv)
    assert message in str(info.value)


def test_seed_reaches_env_args():
    cfg = main.prepare_config(["--config=iql", "--env-config=lbf", "with", "seed=11"])
    assert cfg["seed"] == 11 and cfg["env_args"]["seed"] == 11
    drawn = main.prepare_config(["--config=iql", "--env-config=lbf"])
    assert isinstance(drawn["seed"], int) and drawn["env_args"]["seed"] == drawn["seed"]


def test_cli_user_error_exits_1_without_traceback():
    proc = subprocess.run(
        [sys.executable, "src/main.py", "--config=qmix", "--env-config=lbf", "with", "t_max=-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "t_max=-1 is out of range" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_split_with_separates_a_scripts_options_from_its_overrides():
    assert split_with(["--config", "qmix", "with", "t_max=10", "seed=2"]) == (["--config", "qmix"], ["t_max=10", "seed=2"])
    assert split_with(["--config", "qmix"]) == (["--config", "qmix"], [])
