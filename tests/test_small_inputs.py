"""The command line's small items and bad inputs: --help, unknown keys, use_cuda=auto, an unwritable
results folder, a replay buffer too large for memory, and what reaches cout.txt."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import main
import run
from utils.config_help import key_docs
from utils.config_loader import load_default
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
QMIX = ["--config=qmix", "--env-config=lbf", "with"]


def test_help_exits_0_and_lists_every_key_with_its_one_line_doc():
    proc = subprocess.run([sys.executable, "src/main.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "usage: python src/main.py --config=ALG --env-config=ENV" in proc.stdout
    assert "  t_max = 10000                        env steps to train for" in proc.stdout
    assert "\nsalemb (MMSA); docs/salemb.md:" in proc.stdout
    assert "\nkeys of learner=salemb_learner (valid only when the run selects it):" in proc.stdout
    assert "  wm_train_ratio = 0.0" in proc.stdout
    documented = {key: doc for _, key, _, doc in key_docs()}
    assert sorted(documented) == sorted(load_default())  # every key, once
    assert documented["use_cuda"].startswith("auto: the GPU when there is one")


def test_an_unknown_key_names_the_nearest_keys_only():
    with pytest.raises(ConfigError) as info:
        main.prepare_config(QMIX + ["test_interva=5"])
    message = str(info.value)
    assert message.startswith("unknown config key 'test_interva'. Did you mean 'test_interval'? Other near keys: ")
    assert "log_interval" in message and "wm_kl_alpha" not in message and len(message) < 250
    assert "`python src/main.py --help` lists every key" in message
    with pytest.raises(ConfigError, match=r"unknown config key 'zzz'\. `python src/main.py --help`"):
        main.prepare_config(QMIX + ["zzz=1"])


def test_use_cuda_auto_takes_the_gpu_when_there_is_one_and_warns_about_nothing(caplog):
    assert load_default()["use_cuda"] == "auto"
    console = logging.getLogger("test_use_cuda")
    with caplog.at_level(logging.WARNING, logger="test_use_cuda"):
        device = run.resolve_device("auto", console)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu") and caplog.records == []
    if not torch.cuda.is_available():
        with caplog.at_level(logging.WARNING, logger="test_use_cuda"):
            assert run.resolve_device(True, console).type == "cpu"
        assert "use_cuda=True but no CUDA device is available" in caplog.text
    with pytest.raises(ConfigError, match=r"use_cuda='maybe' is not valid: must be true, false or auto"):
        main.prepare_config(QMIX + ["use_cuda=maybe"])


def test_an_unwritable_results_folder_stops_before_the_run(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main.main(QMIX + [f"local_results_path={not_a_folder / 'results'}"]) == 1
    err = capsys.readouterr().err
    assert f"error: local_results_path='{not_a_folder / 'results'}': cannot write there (Not a directory" in err
    assert "Traceback" not in err


def test_a_replay_buffer_too_large_for_memory_is_refused_with_its_size(tmp_path, capsys):
    assert main.main(QMIX + ["buffer_size=100000000000", "use_cuda=False", f"local_results_path={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert "error: buffer_size=100000000000: the replay buffer would take " in err
    assert "GiB (15555 bytes per episode of up to 51 steps), more than the " in err and "make buffer_size at most " in err


def test_python_warnings_and_a_failure_reach_cout_txt(run_main, tmp_path, monkeypatch):
    def failing_train(self):
        warnings.warn("a warning from inside the run", UserWarning, stacklevel=1)
        raise ConfigError("a mistake found while training")

    monkeypatch.setattr(run.Experiment, "train", failing_train)
    # pytest records warnings itself; show them as Python does by default (on sys.stderr), as in a real run
    monkeypatch.setattr(warnings, "showwarning", lambda message, category, filename, lineno, file=None, line=None:
                        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line)))
    warnings.simplefilter("always")
    with pytest.raises(ConfigError):
        run_main("qmix", "lbf")
    (cout,) = tmp_path.glob("sacred/*/*/*/cout.txt")
    text = cout.read_text()
    assert "UserWarning: a warning from inside the run" in text
    assert "error: a mistake found while training" in text
