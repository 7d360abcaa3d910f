"""The imagination runner, the salemb learner and salemb's configs end to end."""

import math
import os
from types import SimpleNamespace

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_REGISTRY
from runners.imagination_runner import (
    ImaginationRunner,
    RolloutStarts,
    draw_starts,
    hidden_before,
    valid_starts,
)
from test_checkpoint import build_experiment, q_values
from test_runners import make_args

INFO = {"state_shape": 3, "obs_shape": 4, "n_actions": 3, "n_agents": 2, "episode_limit": 6}


class ScriptedWorldModel:
    """Decodes obs = 1 + k at imagined step k, reward 0.5 each step, termination at step `term_at`."""

    def __init__(self, term_at: int | None):
        self.term_at = term_at

    def observe(self, batch, sample=False):
        B, T = batch.batch_size, batch.max_seq_length
        return torch.zeros(B, T, 1), torch.zeros(B, T, 1)

    def decode_transition(self, d, z, actions_onehot):
        logit = torch.full((d.shape[0], 1), -5.0)
        if self.term_at is not None:
            logit[d[:, 0] == self.term_at] = 5.0
        return {"reward": torch.full((d.shape[0], 1), 0.5), "term_logit": logit}

    def imagine_step(self, d, z, actions_onehot):
        return d + 1, z

    def decode(self, d, z, prev_obs=None, prev_state=None):
        n = d.shape[0]
        logits = torch.full((n, 2, 3), -1.0)
        logits[:, :, 2] = 1.0
        return {"obs": (1 + d).view(n, 1, 1).expand(n, 2, 4), "state": torch.zeros(n, 3), "avail_logits": logits}


def real_batch(n=4, T=7, terminate_at=None):
    scheme, groups, pre = build_scheme(INFO)
    batch = EpisodeBatch(scheme, groups, n, T, preprocess=pre)
    steps = T if terminate_at is None else terminate_at + 2
    for t in range(steps):
        batch.update({"obs": torch.full((n, 2, 4), -1.0), "state": torch.zeros(n, 3), "avail_actions": torch.ones(n, 2, 3),
                      "actions": torch.zeros(n, 2, 1), "reward": torch.zeros(n, 1),
                      "terminated": torch.full((n, 1), float(t == terminate_at))}, ts=t)
    return batch, scheme


def make_imagination(term_at, horizon=3, **kw):
    args = make_args(imagine_horizon=horizon, n_actions=3, learner="salemb_learner", **kw)
    scheme, groups, pre = build_scheme(INFO)
    full = EpisodeBatch(scheme, groups, 1, 2, preprocess=pre).scheme
    mac = mac_REGISTRY["basic_mac"](full, groups, args)
    return ImaginationRunner(args, ScriptedWorldModel(term_at), mac, scheme)


def test_valid_starts_exclude_terminal_states():
    batch, _ = real_batch(n=1, T=7, terminate_at=2)
    assert valid_starts(batch)[0].tolist() == [True, True, True, False, False, False, False]


def run_imagination(runner, real):
    h = torch.randn(real.batch_size * 2, real.max_seq_length, runner.mac.args.rnn_hidden_dim)
    return runner.run(real, t_env=0, hidden=h)


def test_imagined_batch_has_the_real_scheme_and_marks_only_imagined_steps():
    torch.manual_seed(0)
    real, _ = real_batch()
    real.update({"actions": torch.ones(4, 7, 2, 1, dtype=torch.long)})
    img, starts = run_imagination(make_imagination(term_at=None), real)
    t0 = starts.step
    assert starts.episode.tolist() == [0, 1, 2, 3]
    assert set(img.scheme) == set(real.scheme)
    for key in real.scheme:
        assert img[key].shape[2:] == real[key].shape[2:] and img[key].dtype == real[key].dtype, key
    assert img.max_seq_length == 3 + 2
    for b in range(4):
        assert img["filled"][b, :, 0].tolist() == [0, 1, 1, 1, 1]
        context = [0.0, 1.0, 0.0] if t0[b] > 0 else [0.0, 0.0, 0.0]  # the real action at t0 - 1, if any
        assert img["actions_onehot"][b, 0, 0].tolist() == context
        assert torch.equal(img["obs"][b, 1], real["obs"][b, t0[b]])  # the real start
        assert img["obs"][b, 2, 0, 0].item() == 2.0                  # decoded obs
        assert img["reward"][b, 1:4, 0].tolist() == [0.5] * 3
        assert (img["avail_actions"][b, 2:5] == torch.tensor([0, 0, 1])).all()
        assert (img["actions"][b, 2:4] == 2).all()  # only action 2 is predicted available


def test_without_real_start_td_the_real_start_transition_is_unfilled():
    torch.manual_seed(0)
    real, _ = real_batch()
    img, _ = run_imagination(make_imagination(term_at=None, imagine_real_start_td=False), real)
    for b in range(4):
        assert img["filled"][b, :, 0].tolist() == [0, 0, 1, 1, 1]
        assert img["reward"][b, 1:4, 0].tolist() == [0.5] * 3  # the roll-out itself is unchanged


def test_imagination_respects_predicted_termination():
    torch.manual_seed(0)
    real, _ = real_batch()
    img, _ = run_imagination(make_imagination(term_at=1), real)
    for b in range(4):
        assert img["filled"][b, :, 0].tolist() == [0, 1, 1, 1, 0]  # transitions k = 0, 1, then the terminal obs
        assert img["terminated"][b, :, 0].tolist() == [0, 0, 1, 0, 0]


def test_draw_starts_across_the_batch_covers_only_valid_steps():
    valid = torch.zeros(3, 6, dtype=torch.bool)
    valid[0, :2] = True
    valid[2, 1:5] = True
    starts = draw_starts(valid, 6)  # 6 valid steps: every one, each once
    assert sorted(zip(starts.episode.tolist(), starts.step.tolist())) == [(0, 0), (0, 1), (2, 1), (2, 2), (2, 3), (2, 4)]
    more = draw_starts(valid, 50)  # more roll-outs than valid steps: drawn with replacement
    assert valid[more.episode, more.step].all() and len(more.step) == 50


def test_many_starts_pick_each_roll_outs_own_episode_and_hidden_state():
    torch.manual_seed(0)
    real, _ = real_batch()
    real.update({"obs": torch.arange(4 * 7, dtype=torch.float).view(4, 7, 1, 1).expand(4, 7, 2, 4).contiguous()})
    runner = make_imagination(term_at=None)
    hidden = torch.arange(4 * 2 * 7, dtype=torch.float).view(8, 7, 1).expand(8, 7, runner.mac.args.rnn_hidden_dim)
    img, starts = runner.run(real, 0, hidden, n_starts=10)
    assert img.batch_size == 10
    for i in range(10):
        b, t = int(starts.episode[i]), int(starts.step[i])
        assert img["obs"][i, 1, 0, 0].item() == 7 * b + t  # the real start of its own episode
    picked = hidden_before(hidden, starts, runner.mac)
    for i in range(10):
        b, t = int(starts.episode[i]), int(starts.step[i])
        for a in range(2):
            expected = 0.0 if t == 0 else hidden[b * 2 + a, t - 1, 0].item()
            assert picked[i * 2 + a, 0].item() == expected


def test_hidden_before_picks_the_state_after_the_previous_step():
    mac = make_imagination(term_at=None).mac
    hidden = torch.arange(2 * 2 * 5, dtype=torch.float).view(4, 5, 1).expand(4, 5, 8)
    picked = hidden_before(hidden, RolloutStarts(torch.tensor([0, 1]), torch.tensor([0, 3])), mac)
    assert picked[:2].eq(0).all()                                  # t0 = 0: the initial (zero) state
    assert picked[2:, 0].tolist() == [hidden[2, 2, 0].item(), hidden[3, 2, 0].item()]


def test_imagined_td_from_real_hidden_states_equals_unrolling_the_real_prefix():
    """The compact roll-out batch (context step + H + 1 steps, agents started from the real pass's hidden
    states) gives the same TD loss and gradients as the agents unrolled over the real prefix."""
    from learners.q_learner import QLearner
    from utils.logging import Logger, get_console_logger

    torch.manual_seed(0)
    args = make_args(n_actions=3, learner="salemb_learner", mixer="qmix", state_shape=3, mixing_embed_dim=4, hypernet_embed=8, optimizer="adam",
                     lr=1e-3, learner_log_interval=10**9, gamma=0.9, td_lambda=0.6, double_q=True,
                     target_update_mode="hard", target_update_interval=10**9, imagine_horizon=3)
    real, _ = real_batch()
    real.update({"obs": torch.randn(4, 7, 2, 4), "actions": torch.randint(0, 3, (4, 7, 2, 1))})
    mac = mac_REGISTRY["basic_mac"](real.scheme, {"agents": 2}, args)
    learner = QLearner(mac, real.scheme, Logger(get_console_logger()), args)
    for p in learner.target_mac.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    runner = ImaginationRunner(args, ScriptedWorldModel(None), mac, {k: v for k, v in real.scheme.items()
                                                                      if k not in ("filled", "actions_onehot")})
    _, info = learner.td_loss(real)
    img, starts = runner.run(real, 0, info["hidden"])
    t0 = starts.step
    h_init = (hidden_before(info["hidden"], starts, mac), hidden_before(info["target_hidden"], starts, mac))
    loss_compact, _ = learner.td_loss(img, h_init=h_init)
    grads_compact = torch.autograd.grad(loss_compact, list(mac.parameters()))

    H = 3
    scheme, groups, pre = build_scheme(INFO)
    losses = []
    for b in range(4):  # each episode on its own: its roll-out's last step must be the batch's last step
        s = int(t0[b])
        full = EpisodeBatch(scheme, groups, 1, s + H + 1, preprocess=pre)
        for key, value in real.transition_data.items():
            full.transition_data[key][0, :s] = value[b, :s]
            full.transition_data[key][0, s:] = img.transition_data[key][b, 1:]
        full.transition_data["filled"][0, :s] = 0
        losses.append(learner.td_loss(full)[0])
    loss_full = torch.stack(losses).mean()  # every roll-out has H transitions: the compact loss is their mean
    grads_full = torch.autograd.grad(loss_full, list(mac.parameters()))
    assert torch.allclose(loss_compact, loss_full, atol=1e-6)
    for g_c, g_f in zip(grads_compact, grads_full):
        assert torch.allclose(g_c, g_f, atol=1e-6)


@pytest.mark.parametrize("alg", ["salemb", "salemb_sale_agents", "salemb_no_sale", "salemb_no_imagination", "salemb_no_wm_sale"])
def test_salemb_and_ablations_train_on_lbf(run_main, alg):
    _, stats = run_main(alg, "lbf", "imagine_start=0", "imagine_gate=False", "wm_eval_interval=100", "wm_eval_episodes=1")
    assert "loss_td" in stats
    if alg != "salemb_no_imagination":
        for key in ("wm_loss", "wm_kl", "wm_recon_obs", "loss_td_imagined", "imagined_return_mean",
                    "wm_eval_obs_mse", "wm_eval_obs_mse_copy_last"):
            assert key in stats, key
    if alg == "salemb_sale_agents":
        assert "loss_sale" in stats and stats["sale_zs_spread"] > 0
    else:
        assert "loss_sale" not in stats  # GRU agents: SALE lives in the world model's transition


@pytest.mark.parametrize("unified", [False, True])
def test_salemb_with_its_own_world_model_schedule_and_imagination_at_scale(run_main, unified):
    _, stats = run_main("salemb", "lbf", "world_model=step_vae", "wm_train_ratio=8", "wm_window=4", "wm_batch_size=8",
                        "imagine_start_sampling=step", "imagine_batch_size=64", "imagine_weighting=transition",
                        "imagine_start=0", "imagine_gate=False", "wm_eval_interval=100", "wm_eval_episodes=1",
                        f"unified_loss={unified}")
    # 350 env steps (7 episodes of 50) x 8 replayed transitions per step / (8 windows x 3 transitions)
    assert stats["wm_train_steps"] == 116
    assert 0 < stats["imagined_share"] < 1 and math.isfinite(stats["loss_td_imagined"])
    for key in ("wm_eval_obs_changed_mse", "wm_eval_reward_mse_zero", "wm_eval_term_mse", "wm_change"):
        assert math.isfinite(stats[key]), key


def test_salemb_unified_loss_and_parallel_runner(run_main, toy_env_registered):
    _, stats = run_main("salemb", "lbf", "env=toy", "runner=parallel", "batch_size_run=2", "unified_loss=True", "imagine_start=0", "imagine_gate=False")
    assert "grad_norm_all" in stats and "loss_td_imagined" in stats


def test_salemb_with_residual_decoding_trains_imagination_and_foresight(run_main):
    _, stats = run_main("salemb", "lbf", "world_model=vae", "wm_residual_decoding=True", "mixer_foresight=True", "imagine_start=0", "imagine_gate=False", "wm_eval_interval=100", "wm_eval_episodes=1")
    for key in ("loss_td_imagined", "wm_recon_obs", "wm_eval_obs_mse", "wm_eval_obs_mse_copy_last"):
        assert math.isfinite(stats[key]), key


def test_salemb_checkpoint_round_trip(run_main, tmp_path):
    config, _ = run_main("salemb", "lbf", "save_model=True", "imagine_start=0")
    (token,) = os.listdir(tmp_path / "models")
    folder = str(tmp_path / "models" / token)
    cfg = dict(config, evaluate=True)
    a = build_experiment(cfg, tmp_path, "a")
    b = build_experiment(cfg, tmp_path, "b")
    a.checkpoints.load(folder, 0)
    b.checkpoints.load(folder, 0)
    batch = a.runner.run(test_mode=True)
    assert torch.equal(q_values(a, batch), q_values(b, batch))
    for pa, pb in zip(a.learner.world_model.parameters(), b.learner.world_model.parameters()):
        assert torch.equal(pa, pb)
    for name in a.learner.optimisers:
        assert a.learner.optimisers[name].state_dict()["state"].keys() == b.learner.optimisers[name].state_dict()["state"].keys()
    a.runner.close_env()
    b.runner.close_env()


def test_imagination_runner_is_not_an_env_runner():
    import main
    from utils.errors import ConfigError

    with pytest.raises(ConfigError, match="steps no env"):
        main.prepare_config(["--config=salemb", "--env-config=lbf", "with", "runner=imagination"])


def test_sale_loss_mask_is_per_agent():
    from learners.salemb_learner import agent_sale_loss

    calls = {}

    class Agent:
        def sale_loss(self, inputs, actions, mask):
            calls.update(inputs=inputs, actions=actions, mask=mask)
            return torch.zeros(())

    mac = SimpleNamespace(n_agents=2, agent=Agent(), build_sequence_inputs=lambda b: torch.zeros(b.batch_size, b.max_seq_length, 2, 5))
    batch, _ = real_batch(n=3, T=7, terminate_at=2)
    agent_sale_loss(mac, batch)
    assert calls["inputs"].shape == (6, 7, 5) and calls["actions"].shape == (6, 7, 3)
    assert calls["mask"][:, :, 0].tolist() == [[1, 1, 1, 0, 0, 0, 0]] * 6


def test_imagined_rewards_are_standardised_without_updating_the_statistics():
    from learners.q_learner import QLearner
    from utils.logging import Logger, get_console_logger

    args = make_args(n_actions=3, mixer=None, standardise_rewards=True, optimizer="adam", lr=1e-3,
                     learner_log_interval=10**9, gamma=0.9, td_lambda=0.6, double_q=True,
                     target_update_mode="hard", target_update_interval=10**9)
    real, _ = real_batch()
    real.update({"reward": torch.randn(4, 7, 1)})
    mac = mac_REGISTRY["basic_mac"](real.scheme, {"agents": 2}, args)
    learner = QLearner(mac, real.scheme, Logger(get_console_logger()), args)
    _, info = learner.td_loss(real)
    count, mean = float(learner.rew_ms.count), learner.rew_ms.mean.clone()
    h = info["hidden"].detach()[:, 0]
    learner.td_loss(real, h_init=(h, h))
    assert float(learner.rew_ms.count) == count and torch.equal(learner.rew_ms.mean, mean)
    learner.td_loss(real)
    assert float(learner.rew_ms.count) > count


@pytest.mark.parametrize(("obs_mse", "reward_mse", "margin", "open_"), [
    (0.5, 0.0, 0.0, False),   # observations worse than copy-last
    (0.01, 0.0, 0.0, True),
    (0.08, 0.0, 0.5, False),  # better than copy-last, but not by the margin
    (0.01, 0.3, 0.0, False),  # rewards worse than predicting zero
])
def test_imagine_gate_follows_the_world_model_check(run_main, monkeypatch, obs_mse, reward_mse, margin, open_):
    import learners.model_based_part as model_based_part
    from modules.world_models.rollout_eval import ERROR_COUNTS

    errors = {k: 0.0 for k in ERROR_COUNTS} | {"obs_mse": obs_mse, "obs_mse_copy_last": 0.1, "reward_mse": reward_mse,
                                               "reward_mse_zero": 0.2}
    sums = errors | {"count_obs": 1.0, "count_obs_changed": 1.0, "count_reward": 1.0}
    monkeypatch.setattr(model_based_part, "rollout_error_sums", lambda model, batch, horizon: dict(sums))
    _, stats = run_main("salemb", "lbf", "imagine_gate=True", "imagine_start=0", "wm_eval_interval=1",
                        "wm_eval_episodes=1", f"imagine_gate_margin={margin}")
    assert stats["imagine_gate_open"] == float(open_)
    assert ("loss_td_imagined" in stats) == open_


def test_world_model_check_pools_fresh_batches_until_enough_episodes(monkeypatch):
    """Each fresh batch is scored on arrival; a check is logged once the pool holds wm_eval_episodes."""
    import learners.model_based_part as model_based_part

    calls = []
    monkeypatch.setattr(model_based_part, "rollout_error_sums", lambda model, batch, horizon: calls.append(batch.batch_size)
                        or {"obs_mse": 2.0, "count_obs": 4.0})
    monkeypatch.setattr(model_based_part, "finish_rollout_error", lambda pool: {"obs_mse": pool["obs_mse"] / pool["count_obs"],
                                                                              "episodes": pool["episodes"]})
    logged = []
    part = SimpleNamespace(model=object(), eval_pool=None, eval_t=-10**9,
                              args=SimpleNamespace(device="cpu", imagine_horizon=3, wm_eval_interval=10, wm_eval_episodes=10,
                                                   imagine_gate=False),
                              logger=SimpleNamespace(log_stat=lambda k, v, t: logged.append((k, v, t))))
    batch, _ = real_batch(n=4)
    for t in (100, 200, 300):
        model_based_part.ModelBasedPart.observe_new_episodes(part, batch, t)
    assert calls == [4, 4, 4]
    assert logged == [("wm_eval_obs_mse", 0.5, 300), ("wm_eval_episodes", 12.0, 300)]
    assert part.eval_pool is None


def test_sale_embedding_spread_is_zero_only_for_a_collapsed_embedding():
    from learners.salemb_learner import sale_embedding_spread

    torch.manual_seed(0)
    args = make_args(n_actions=3, agent="sale_rnn", sale_embed_dim=4, sale_hidden_dim=8)
    real, _ = real_batch()
    real.update({"obs": torch.randn(4, 7, 2, 4)})
    mac = mac_REGISTRY["basic_mac"](real.scheme, {"agents": 2}, args)
    assert sale_embedding_spread(mac, real).item() > 0.05
    last = mac.agent.sale.fixed.f.l3
    last.weight.data.zero_()
    last.bias.data.fill_(0.5)
    assert sale_embedding_spread(mac, real).item() == pytest.approx(0.0, abs=1e-6)
