"""Watching a policy: `evaluate=True render=True` records env 0's first test episode as a GIF for any env
whose `render` draws a frame, headless: LBF and SMAX's frames here (SMAX's recording is in test_smax.py,
which loads jax; MaMuJoCo's in test_mamujoco.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envs.lbf import LBFEnv
from envs.smax_render import CAPTION_HEIGHT, TEAM_COLOURS, draw_units, episode_view
from toy_env import ToyEnv
from utils.errors import ConfigError, MissingDependencyError


def test_smax_frames_draw_living_units_in_their_team_colours_in_the_episodes_view():
    positions = np.array([[8.0, 24.0], [24.0, 8.0], [16.0, 16.0]])
    view = episode_view(positions, (32.0, 32.0))
    assert view == (4.0, 4.0, 24.0)  # the units' 16 x 16 box with a margin of 4
    assert episode_view(np.array([[10.0, 10.0], [11.0, 10.0]]), (32.0, 32.0)) == (2.5, 2.0, 16.0)  # at least 16
    frame = draw_units(
        positions=positions, alive=np.array([True, True, False]), teams=np.array([0, 1, 1]),
        health_fraction=np.array([1.0, 0.5, 1.0]), radiuses=np.array([0.5, 0.5, 0.5]), initials=["m", "m", "m"],
        view=view, caption="SMAX 3m step 4", width=240)
    assert frame.shape == (240 + CAPTION_HEIGHT, 240, 3) and frame.dtype == np.uint8
    # 10 px per map unit; y is up: the ally at (8, 24) is drawn upper left, the enemy at (24, 8) lower right
    assert tuple(frame[CAPTION_HEIGHT + 40 + 3, 40 + 3]) == TEAM_COLOURS[0]
    assert tuple(frame[CAPTION_HEIGHT + 200 + 3, 200 + 3]) == TEAM_COLOURS[1]
    assert tuple(frame[CAPTION_HEIGHT + 120 + 3, 120 + 3]) == (245, 245, 240)  # the dead unit is not drawn


def test_an_env_that_draws_nothing_says_which_envs_can_record():
    with pytest.raises(ConfigError, match="ToyEnv draws no frames.*lbf, smax and mamujoco"):
        ToyEnv().start_recording()


def test_evaluate_render_writes_a_gif_of_an_lbf_test_episode(run_main, tmp_path: Path, capsys):
    try:
        _lbf_can_render()
    except MissingDependencyError as e:
        pytest.skip(str(e))
    from PIL import Image

    run_main("qmix", "lbf", "t_max=100", "save_model=True")
    (models,) = (tmp_path / "models").iterdir()
    run_main("qmix", "lbf", "evaluate=True", f"checkpoint_path={models}", "render=True", "test_nepisode=1")
    (gif,) = (tmp_path / "renders").glob("*.gif")
    assert f"Saved 51 frames of the first test episode to {gif}" in capsys.readouterr().err  # reset + 50 steps
    with Image.open(gif) as image:  # (the GIF merges identical frames: an untrained policy often stands still)
        assert image.size == (409, 409) and np.asarray(image.convert("RGB")).std() > 0


def _lbf_can_render() -> None:
    env = LBFEnv(seed=0)
    env.reset()
    env.render()
    env.close()
