"""tools/bench/vs_epymarl.py: both sides run with EPyMARL's QMIX settings, alternating, and a failed run says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench import vs_epymarl


def fake_checkout(tmp_path: Path, body: str) -> Path:
    """A stand-in EPyMARL checkout whose src/main.py runs `body`."""
    (tmp_path / "epymarl" / "src").mkdir(parents=True)
    (tmp_path / "epymarl" / "src" / "main.py").write_text(body)
    return tmp_path / "epymarl"


def test_both_sides_get_the_same_task_budget_and_settings() -> None:
    theirs = vs_epymarl.epymarl_command(Path("/x"), "Foraging-8x8-2p-2f-coop-v3", 3000, 2)
    ours = vs_epymarl.our_command("Foraging-8x8-2p-2f-coop-v3", 3000, 2)
    for shared in ("t_max=3000", "seed=2", "test_nepisode=100", "test_interval=50000", "save_model=False"):
        assert shared in theirs and shared in ours
    assert "use_rnn=True" in theirs and "env_args.key=lbforaging:Foraging-8x8-2p-2f-coop-v3" in theirs
    assert "test_at_end=False" in ours  # EPyMARL tests on its interval only, not at the end
    for setting in ("batch_size=32", "buffer_size=5000", "lr=0.0005", "epsilon_anneal_time=50000", "td_lambda=0",
                    "obs_last_action=False", "runner=episode", "batch_size_run=1"):
        assert setting in ours


def test_rounds_alternate_and_ratios_are_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    checkout = fake_checkout(tmp_path, "import smaclite\n")  # EPyMARL's side needs the stand-in on its path
    calls: list[str] = []
    real_timed = vs_epymarl.timed

    def timed(command: list[str], env: dict, cwd: str) -> tuple[float, float]:
        calls.append("EPyMARL" if str(checkout) in command[1] else "ours")
        if calls[-1] == "EPyMARL":
            real_timed(command[:2], env, cwd)
        return (2.0, 1.0) if calls[-1] == "EPyMARL" else (1.0, 0.5)

    monkeypatch.setattr(vs_epymarl, "timed", timed)
    assert vs_epymarl.main(["--epymarl", str(checkout), "--rounds", "2", "--t-max", "100"]) == 0
    assert calls == ["EPyMARL", "ours", "ours", "EPyMARL"]
    assert "median over 2 round(s): 2.00x wall, 2.00x per CPU-second" in capsys.readouterr().out


def test_a_failed_run_shows_its_output(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path, "import sys\nprint('no lbforaging here')\nsys.exit(3)\n")
    with pytest.raises(RuntimeError, match="exited with 3:\nno lbforaging here"):
        vs_epymarl.timed([vs_epymarl.sys.executable, str(checkout / "src" / "main.py")], {}, str(tmp_path))


def test_a_folder_without_epymarl_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        vs_epymarl.main(["--epymarl", str(tmp_path)])
    assert "no src/main.py there" in capsys.readouterr().err
