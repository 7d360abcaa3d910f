"""salemb's exploration through its world model: the curiosity bonus (learners/curiosity.py) and imagination's own epsilon."""

from __future__ import annotations

import math

import pytest
import torch

from learners.curiosity import curiosity_bonus, one_step_surprise
from test_world_model import line_episodes, make_step_model

torch.set_num_threads(1)


def copy_last_model():
    """A step model whose change heads output 0: it predicts every next step to be the current one."""
    model = make_step_model()
    for head in (model.delta_head, model.latent_delta_head):
        head[-1].weight.data.zero_()
        head[-1].bias.data.zero_()
    return model


def test_surprise_of_a_copy_last_model_is_the_observations_change() -> None:
    batch = line_episodes(6, seed=3)
    surprise, valid = one_step_surprise(copy_last_model(), batch)
    obs = batch["obs"].float()
    change = (obs[:, 1:] - obs[:, :-1]).pow(2).mean(dim=(-2, -1))
    assert surprise.shape == valid.shape == (batch.batch_size, batch.max_seq_length - 1)
    assert torch.allclose(surprise[valid], change[valid])
    assert torch.all(surprise[~valid] == 0) and (~valid).any(), "the batch needs invalid transitions"


def test_bonus_is_centred_capped_and_zero_off_the_valid_transitions() -> None:
    torch.manual_seed(0)
    batch = line_episodes(8, seed=4)
    model = make_step_model()
    _, valid = one_step_surprise(model, batch)
    wide = curiosity_bonus(model, batch, coef=0.5, clip=1e9)[..., 0]
    assert wide.shape == valid.shape
    assert float(wide[valid].mean()) == pytest.approx(0.0, abs=1e-5)  # no reward per step on average
    assert torch.all(wide[~valid] == 0)
    capped = curiosity_bonus(model, batch, coef=0.5, clip=1.5)[..., 0]
    assert float(capped.max()) == pytest.approx(0.5 * (1.5 - 1.0)) and float(wide.max()) > float(capped.max())
    assert float(capped.min()) == pytest.approx(float(wide.min()), abs=1e-6)  # the cap bounds only the top


def test_salemb_trains_with_the_bonus_and_logs_its_size(run_main) -> None:
    _, stats = run_main("salemb", "lbf", "curiosity_coef=0.3", "imagine_start=0", "imagine_gate=False")
    assert 0 < stats["curiosity_bonus_abs"] < 0.3 * 10 and math.isfinite(stats["loss_td_imagined"])
    _, plain = run_main("salemb", "lbf", "imagine_start=0", "imagine_gate=False")
    assert "curiosity_bonus_abs" not in plain


def test_imagine_epsilon_sets_imagination_exploration_only(run_main) -> None:
    _, stats = run_main("salemb", "lbf", "imagine_epsilon=1.0", "imagine_start=0", "imagine_gate=False")
    assert math.isfinite(stats["loss_td_imagined"]) and stats["epsilon"] < 1.0  # the logged epsilon is the schedule's


def test_epsilon_override_is_used_and_not_kept() -> None:
    from types import SimpleNamespace

    from components.action_selectors import EpsilonGreedyActionSelector

    selector = EpsilonGreedyActionSelector(SimpleNamespace(
        epsilon_start=0.0, epsilon_finish=0.0, epsilon_anneal_time=10, epsilon_decay="linear", test_noise=0.0))
    q = torch.tensor([[[5.0, 0.0, 0.0, 0.0]]]).expand(500, 1, 4)
    avail = torch.ones(500, 1, 4, dtype=torch.int)
    torch.manual_seed(0)
    assert bool((selector.select_action(q, avail, t_env=0) == 0).all()) and selector.epsilon == 0.0
    explored = selector.select_action(q, avail, t_env=0, epsilon=1.0)
    assert 0.15 < float((explored == 0).float().mean()) < 0.35 and selector.epsilon == 0.0


def test_imagine_epsilon_is_refused_with_continuous_actions() -> None:
    from args_helper import run_args
    from learners.salemb_continuous_learner import SALEMBContinuousLearner

    args = run_args(learner="salemb_continuous_learner", imagine_epsilon=0.5)
    with pytest.raises(ValueError, match=r"imagine_epsilon=0.5 is not available with continuous actions.*imagine_epsilon=null"):
        SALEMBContinuousLearner(None, {}, None, args)
