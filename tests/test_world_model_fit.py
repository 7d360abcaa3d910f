"""tools/checks/world_model_fit.py runs end to end: the world model trains through salemb's own step and the
held-out ratios print for each variant."""

from __future__ import annotations

from tools.checks import world_model_fit


def test_fit_prints_held_out_ratios_for_each_variant(capsys) -> None:
    argv = ["--episodes", "130", "--held-out", "4", "--steps", "2", "--checks", "1",
            "--compare", "", "wm_change_gate=False", "with", "wm_batch_size=4", "wm_window=4"]
    assert world_model_fit.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "step      2" in line]
    assert len(lines) == 2 and lines[1].startswith("wm_change_gate=False")
    assert all("obs " in line and "steps/s" in line for line in lines)
