"""SIGKILL a training process at a chosen point (collecting, in a learner update, writing a checkpoint),
resume it, and compare with the uninterrupted run of the same seed: no metric step lost, none logged
twice, every value identical (the replay buffer is saved). A checkpoint cut short is skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import main
from tools.analysis.metrics_diff import compare_metrics, read_metrics
from utils.checkpoint import list_checkpoints

ROOT = Path(__file__).resolve().parents[1]
ARGV = [
    "--config=qmix", "--env-config=lbf", "with", "env_args.key=Foraging-5x5-2p-1f-v3", "t_max=600",
    "save_model=True", "save_model_interval=100", "save_buffer=True", "seed=7", "use_cuda=False",
    "test_interval=150", "log_interval=150", "runner_log_interval=80", "learner_log_interval=50",
    "test_nepisode=2", "batch_size=4", "buffer_size=12", "rnn_hidden_dim=16",
]


def sacred_run(results: Path) -> Path:
    (run_dir,) = [p for p in (results / "sacred").glob("*/*/*") if p.name.isdigit()]
    return run_dir


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    results = tmp_path_factory.mktemp("reference")
    main.run_experiment(main.prepare_config([*ARGV, f"local_results_path={results}"]))
    return read_metrics(sacred_run(results))


def run_until_killed(results: Path, hang: str, at: int) -> None:
    """Start the run in a subprocess that hangs at the chosen point, and SIGKILL it there."""
    ready = results / "hanging"
    cmd = [sys.executable, "tests/crash_main.py", "--hang", hang, "--at", str(at), "--ready", str(ready), "--",
           *ARGV, f"local_results_path={results}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before reaching the {hang} point:\n{proc.stderr.read()}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"the run did not reach the {hang} point within 300 s")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def models_dir(results: Path) -> Path:
    (token,) = os.listdir(results / "models")
    return results / "models" / token


@pytest.mark.parametrize(
    "hang,at",
    [("collect", 330), ("learn", 8), ("save", 4)],
)
def test_killed_run_resumes_to_the_uninterrupted_curve(reference, tmp_path, hang, at):
    run_until_killed(tmp_path, hang, at)
    models = models_dir(tmp_path)
    complete = list_checkpoints(str(models))
    assert complete, "the kill came before the first checkpoint"
    partial = [p for p in os.listdir(models) if p.startswith(".")]
    if hang == "save":
        (temp,) = partial  # the interrupted save: all its files written, never renamed into place
        assert os.path.isfile(models / temp / "state.th")
        assert int(temp[1:].split(".")[0]) > complete[-1]
    else:
        assert partial == []
    run_dir = sacred_run(tmp_path)

    main.run_experiment(main.prepare_config(["with", f"resume={run_dir}"]))

    assert f"Loaded checkpoint {models}/{complete[-1]} (t_env {complete[-1]})" in (run_dir / "cout.txt").read_text()
    diff = compare_metrics(reference, read_metrics(run_dir))
    assert diff.steps_lost == 0 and diff.steps_duplicated == 0, diff.summary()
    assert diff.curves_match, diff.summary()
    assert [p for p in os.listdir(models) if p.startswith(".")] == []  # the next save removed the temp folder


def test_truncated_checkpoint_is_skipped(reference, tmp_path, capsys):
    run_until_killed(tmp_path, "collect", 450)
    models = models_dir(tmp_path)
    *_, older, latest = list_checkpoints(str(models))
    buffer = models / str(latest) / "buffer.th"
    buffer.write_bytes(buffer.read_bytes()[: buffer.stat().st_size // 2])  # a copy cut short
    run_dir = sacred_run(tmp_path)

    main.run_experiment(main.prepare_config(["with", f"resume={run_dir}"]))

    warning = f"Checkpoint {models}/{latest} cannot be read (ValueError: buffer.th is not a complete torch file"
    assert warning in capsys.readouterr().err  # said before the run starts, so not in cout.txt
    assert f"Loaded checkpoint {models}/{older} (t_env {older})" in (run_dir / "cout.txt").read_text()
    assert (models / f"{latest}.unreadable").is_dir()
    diff = compare_metrics(reference, read_metrics(run_dir))
    assert diff.curves_match, diff.summary()
