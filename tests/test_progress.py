"""What a run shows while it trains: the live progress line, summaries a short run still prints, the
latest value beside the recent mean, and the final values."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import main
from utils.logging import Logger, cap_log_intervals, get_console_logger
from utils.progress import TrainingProgress, latest_test_text, paused_for_output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_short_runs_get_log_intervals_of_a_tenth_of_t_max():
    config = {"t_max": 6000, "log_interval": 25000, "runner_log_interval": 2000, "learner_log_interval": 3001}
    assert cap_log_intervals(config) == ["log_interval 25000 -> 600", "learner_log_interval 3001 -> 600"]
    assert config == {"t_max": 6000, "log_interval": 600, "runner_log_interval": 2000, "learner_log_interval": 600}
    long_run = {"t_max": 2_050_000, "log_interval": 25000, "runner_log_interval": 25000, "learner_log_interval": 25000}
    assert cap_log_intervals(long_run) == [] and long_run["log_interval"] == 25000


def test_summaries_show_the_latest_value_beside_the_recent_mean_and_the_final_values():
    stream = io.StringIO()
    console = logging.getLogger("test_progress_summary")
    console.handlers[:] = [logging.StreamHandler(stream)]
    console.propagate = False
    console.setLevel(logging.INFO)
    logger = Logger(console)
    for t, eps in enumerate([1.0, 0.9, 0.8, 0.7, 0.6, 0.5]):
        logger.log_stat("epsilon", eps, t * 100, to_sacred=False)
    logger.log_stat("test_return_mean", 0.25, 300, to_sacred=False)
    logger.log_stat("episode", 12, 500, to_sacred=False)
    logger.log_stat("steps_per_sec", 412.0, 500, to_sacred=False)
    logger.print_recent_stats()
    logger.print_final_stats()
    text = stream.getvalue()
    assert "epsilon:                   0.5000 (0.7000)" in text  # latest, then the mean of the last 5
    assert "test_return_mean:          0.2500\n" in text  # a test metric: its latest value alone
    assert "steps_per_sec" not in text  # one steps/s figure: the summary's header line
    assert "epsilon:                   0.5000 @500" in text and "test_return_mean:          0.2500 @300" in text


def test_the_progress_line_shows_steps_rate_and_the_latest_test_return():
    assert latest_test_text({}) == ""
    stats = {"test_return_mean": [(0, 0.0), (5000, 0.4123)], "test_battle_won_mean": [(5000, 0.25)]}
    assert latest_test_text(stats) == "test return 0.412 @5k, win rate 0.25"
    terminal = FakeTerminal()
    with TrainingProgress(6000, 0, stream=terminal) as progress:
        progress.update(3000, stats)
        progress.bar.refresh()
        with paused_for_output():
            terminal.write("a log line\n")
    text = terminal.getvalue()
    assert "training  50%|" in text and "3.00k/6.00k env steps" in text and "test return 0.412 @5k" in text
    assert "a log line" in text
    log_file = io.StringIO()  # not a terminal: no progress line at all
    with TrainingProgress(6000, 0, stream=log_file) as progress:
        progress.update(3000, stats)
    assert log_file.getvalue() == ""


def test_a_short_run_with_the_envs_long_log_intervals_prints_summaries_and_final_values(tmp_path: Path, capsys, monkeypatch):
    config = main.prepare_config([  # lbf.yaml's log intervals, 25000, are made for 2M-step runs
        "--config=qmix", "--env-config=lbf", "with", "t_max=600", "batch_size=4", "buffer_size=8",
        "test_nepisode=2", "use_cuda=False", f"local_results_path={tmp_path}", "seed=1"])
    assert (config["log_interval"], config["runner_log_interval"], config["learner_log_interval"]) == (60, 60, 60)
    main.run_experiment(config)
    (cout,) = tmp_path.glob("sacred/*/*/*/cout.txt")
    text = cout.read_text()
    assert text.count("Recent stats | t_env:") == 6  # every 60 steps, at most one per 50-step episode
    assert "Finished training: 6" in text and "steps/s)" in text and "Final values" in text
    # the run ends by saying where its results are, with a plot command that works on them
    err = capsys.readouterr().err
    assert f"Results in {cout.parent}/ (metrics.json" in err
    command = err.split("Plot the test return:\n    python scripts/plot.py ")[1].splitlines()[0].split()
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "scripts"))
    import plot

    assert plot.main(command) == 0 and Path(command[2]).is_file()
    assert get_console_logger().handlers  # the console logger is still set up for the next run
