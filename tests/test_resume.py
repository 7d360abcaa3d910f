"""Resuming a run in place from its latest checkpoint, and stopping on SIGTERM with a checkpoint."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import main

ROOT = Path(__file__).resolve().parents[1]


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_resume_continues_the_same_sacred_run(run_main, tmp_path):
    config, _ = run_main("qmix", "lbf", "save_model=True", "save_model_interval=100", "t_max=200")
    (run_dir,) = [p for p in (tmp_path / "sacred").glob("*/*/*") if p.name.isdigit()]
    before = metrics_of(run_dir)
    first_run = json.loads((run_dir / "run.json").read_text())
    argv = ["with", f"resume={run_dir}", "t_max=400"]
    stats = main.run_experiment(main.prepare_config(argv))
    assert stats["episode"] > 0
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["start_time"] == first_run["start_time"] and run_json["status"] == "COMPLETED"
    (resume,) = run_json["resumes"]
    assert resume["from_t_env"] == 248 and resume["buffer_saved"] is False and resume["previous_status"] == "COMPLETED"
    assert resume["checkpoint"].endswith("248") and resume["previous_stop_time"] == first_run["stop_time"]
    cout = (run_dir / "cout.txt").read_text()
    assert "Beginning training for 200 timesteps" in cout  # the first part's lines are kept
    assert "(t_env 248): networks, optimisers, counters, RNG states and logged metrics restored; replay buffer NOT restored" in cout
    assert "Beginning training at t_env 248 of 400 (152 steps to go)" in cout
    assert [p for p in (tmp_path / "sacred").glob("*/*/*") if p.name.isdigit()] == [run_dir]
    after = metrics_of(run_dir)
    for key, series in after.items():
        steps = series["steps"]
        assert steps == sorted(steps), key
        assert len(steps) == len(set(steps)), f"{key} has duplicated steps"
    assert max(after["return_mean"]["steps"]) > max(before["return_mean"]["steps"])
    info = json.loads((run_dir / "info.json").read_text())
    assert info["return_mean_T"] == after["return_mean"]["steps"]


def test_resume_from_models_dir_and_bad_paths(run_main, tmp_path):
    run_main("vdn", "lbf", "save_model=True", "t_max=150")
    (token,) = os.listdir(tmp_path / "models")
    cfg = main.prepare_config(["with", f"resume={tmp_path / 'models' / token}"])
    assert cfg["mixer"] == "vdn" and cfg["checkpoint_path"].endswith(token)
    assert main.main(["with", f"resume={tmp_path}"]) == 1


def test_unreadable_checkpoint_is_skipped(run_main, tmp_path):
    from test_checkpoint import build_experiment

    config, _ = run_main("qmix", "lbf", "save_model=True", "save_model_interval=100", "t_max=300")
    root = tmp_path / "models" / os.listdir(tmp_path / "models")[0]
    steps = sorted(int(p) for p in os.listdir(root))
    (root / str(steps[-1]) / "state.th").write_bytes(b"truncated")
    exp = build_experiment(config, tmp_path, "r")
    exp.checkpoints.load(str(root), 0)
    assert exp.runner.t_env == steps[-2]
    exp.runner.close_env()


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path):
    cmd = [sys.executable, "src/main.py", "--config=qmix", "--env-config=lbf", "with", "t_max=10000000",
           "save_model=True", "save_model_interval=100000000", "use_cuda=False", f"local_results_path={tmp_path}",
           "batch_size=4", "buffer_size=8", "test_nepisode=1", "log_interval=200", "runner_log_interval=200",
           "learner_log_interval=200", "test_interval=100000"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    err = ""
    for line in proc.stderr:
        err += line
        if "t_env" in line and "steps/s" in line:
            proc.send_signal(signal.SIGTERM)
            break
    err += proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "SIGTERM received" in err
    (token,) = os.listdir(tmp_path / "models")
    steps = sorted(int(p) for p in os.listdir(tmp_path / "models" / token))
    assert len(steps) == 2 and steps[-1] > 0  # the first save at t=0... and the one on SIGTERM
    run_json = json.loads(next((tmp_path / "sacred").glob("*/*/*/run.json")).read_text())
    assert run_json["status"] == "INTERRUPTED"
    cout = next((tmp_path / "sacred").glob("*/*/*/cout.txt")).read_text()
    assert "SIGTERM received" in cout and "interrupted: stopped by SIGTERM at t_env" in cout
    assert err.count("interrupted: stopped by SIGTERM") == 1  # main does not print it again
