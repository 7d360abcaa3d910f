"""What a run shows while it trains: the live progress line, summaries a short run still prints, the
latest value beside the recent mean, and the final values."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import main
from utils.logging import Logger, get_console_logger, summary_interval
from utils.progress import TrainingProgress, latest_test_text, paused_for_output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_short_run_prints_ten_summaries_and_a_long_one_one_per_log_interval():
    assert summary_interval(25000, 6000) == 600
    assert summary_interval(25000, 2_050_000) == 25000
    assert summary_interval(2000, 5) == 1


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
    logger.print_recent_stats(500, 12, since=400)
    logger.print_final_stats()
    text = stream.getvalue()
    assert "Recent stats | t_env:        500 | Episode:       12 |" in text
    assert "epsilon:                   0.5000 (0.7000)" in text  # latest, then the mean of the last 5
    assert "test_return_mean:          0.2500 @300\n" in text  # a test metric: its latest value alone, and
    # as it was logged before the previous summary (step 400), the step it was logged at
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


def test_a_short_run_with_the_envs_long_log_intervals_prints_summaries_and_final_values(tmp_path: Path, capsys):
    config = main.prepare_config([  # lbf.yaml's log_interval, 25000, is made for 2M-step runs
        "--config=qmix", "--env-config=lbf", "with", "t_max=600", "batch_size=4", "buffer_size=8",
        "test_nepisode=2", "use_cuda=False", f"local_results_path={tmp_path}", "seed=1"])
    main.run_experiment(config)
    (cout,) = tmp_path.glob("sacred/*/*/*/cout.txt")
    text = cout.read_text()
    assert text.count("Recent stats | t_env:") == 6  # every 60 steps, at most one per 50-step episode
    metrics = json.loads((cout.parent / "metrics.json").read_text())
    assert "episode" not in metrics  # the extra summaries log nothing: the metrics keep lbf.yaml's intervals
    assert "Finished training: 6" in text and "steps/s)" in text and "Final values" in text
    # the run ends by saying where its results are, with a plot command that works on them
    err = capsys.readouterr().err
    assert f"Results in {cout.parent}/ (metrics.json" in err
    command = err.split("Plot the test return:\n    python -m tools.analysis.plot ")[1].splitlines()[0].split()
    from tools.analysis import plot

    assert plot.main(command) == 0 and Path(command[2]).is_file()
    assert get_console_logger().handlers  # the console logger is still set up for the next run
