"""VAE world model with joint SALE: shapes, masks, KL balancing, the no-SALE ablation, and fitting a small env.

The fitting env (`line_episodes`): two agents walk on a line of `width` cells (actions left / stay /
right, moving off the line unavailable); each sees (own position, other's position, t / limit), the state
is (position 0, position 1, t / limit). Meeting gives reward 1 and terminates; otherwise the episode
times out after `limit` steps. Random available actions, so episode lengths vary (padding is exercised).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from modules.world_models import REGISTRY
from modules.world_models.gaussian import balanced_kl
from modules.world_models.joint_sale import JointSALE
from modules.world_models.rollout_eval import ERROR_COUNTS, add_sums, finish_rollout_error, rollout_error_sums
from modules.world_models.step_vae_world_model import StepVAEWorldModel, balanced_free_kl
from modules.world_models.vae_world_model import VAEWorldModel

torch.set_num_threads(1)

N_AGENTS, N_ACTIONS, OBS_DIM, STATE_DIM = 2, 3, 3, 3
SMALL = {"wm_hidden_dim": 64, "wm_deter_dim": 64, "wm_latent_dim": 16, "wm_sale_dim": 32}


def line_episodes(n_episodes: int, seed: int, width: int = 6, limit: int = 10) -> EpisodeBatch:
    rng = np.random.default_rng(seed)
    env_info = {"state_shape": STATE_DIM, "obs_shape": OBS_DIM, "n_actions": N_ACTIONS, "n_agents": N_AGENTS}
    scheme, groups, preprocess = build_scheme(env_info)
    batch = EpisodeBatch(scheme, groups, n_episodes, limit + 1, preprocess=preprocess)
    scale = width - 1
    for e in range(n_episodes):
        first = int(rng.integers(width))
        pos = np.array([first, (first + int(rng.integers(1, width))) % width])
        for t in range(limit + 1):
            avail = np.stack([pos > 0, np.ones(2, dtype=bool), pos < width - 1], axis=1).astype(np.int64)
            obs = [[pos[i] / scale, pos[1 - i] / scale, t / limit] for i in range(N_AGENTS)]
            batch.update({"state": [pos[0] / scale, pos[1] / scale, t / limit], "obs": obs,
                          "avail_actions": avail}, bs=e, ts=t)
            if t == limit:
                break
            actions = np.array([rng.choice(np.flatnonzero(row)) for row in avail])
            pos = pos + actions - 1
            met = bool(pos[0] == pos[1])
            batch.update({"actions": actions.reshape(N_AGENTS, 1), "reward": [float(met)], "terminated": [int(met)]},
                         bs=e, ts=t, mark_filled=False)
            if met:
                batch.update({"state": [pos[0] / scale, pos[1] / scale, (t + 1) / limit],
                              "obs": [[pos[i] / scale, pos[1 - i] / scale, (t + 1) / limit] for i in range(N_AGENTS)],
                              "avail_actions": np.ones((N_AGENTS, N_ACTIONS))}, bs=e, ts=t + 1)
                break
    return batch


def make_model(**overrides) -> VAEWorldModel:
    return VAEWorldModel(STATE_DIM, OBS_DIM, N_AGENTS, N_ACTIONS, SimpleNamespace(**{**SMALL, **overrides}))


@pytest.fixture(scope="module")
def small_batch() -> EpisodeBatch:
    batch = line_episodes(6, seed=3)
    assert (batch["filled"].sum(dim=(1, 2)) < batch.max_seq_length).any(), "the test needs padded episodes"
    return batch


def test_registry() -> None:
    assert REGISTRY["vae"] is VAEWorldModel


def test_loss_parts_and_gradients(small_batch: EpisodeBatch) -> None:
    torch.manual_seed(0)
    model = make_model(wm_free_nats=0.0)
    loss, stats = model.loss(small_batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    keys = {"wm_loss", "wm_recon_obs", "wm_recon_state", "wm_kl", "wm_reward", "wm_term", "wm_avail", "wm_sale"}
    assert set(stats) == keys
    for key, value in stats.items():
        assert value.dim() == 0 and not value.requires_grad and torch.isfinite(value), key
    assert stats["wm_sale"] > 0
    assert stats["wm_loss"] == pytest.approx(loss.item())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing


def test_output_shapes(small_batch: EpisodeBatch) -> None:
    torch.manual_seed(0)
    model = make_model()
    bs, seq_len = small_batch.batch_size, small_batch.max_seq_length
    with torch.no_grad():
        d, z = model.observe(small_batch)
    assert d.shape == (bs, seq_len, SMALL["wm_deter_dim"]) and z.shape == (bs, seq_len, SMALL["wm_latent_dim"])
    d, z = d[:, 0], z[:, 0]
    actions = small_batch["actions_onehot"][:, 0]
    d_next, z_next = model.imagine_step(d, z, actions)
    assert d_next.shape == d.shape and z_next.shape == z.shape
    d_s, z_s = model.imagine_step(d, z, actions, sample=True)
    assert torch.allclose(d_s, d_next) and not torch.allclose(z_s, z_next)
    dec = model.decode(d_next, z_next)
    assert dec["obs"].shape == (bs, N_AGENTS, OBS_DIM)
    assert dec["state"].shape == (bs, STATE_DIM)
    assert dec["avail_logits"].shape == (bs, N_AGENTS, N_ACTIONS)
    trans = model.decode_transition(d_next, z_next, actions)
    assert trans["reward"].shape == (bs, 1) and trans["term_logit"].shape == (bs, 1)
    errors = model.rollout_error(small_batch, horizon=3)
    assert set(errors) == set(ERROR_COUNTS)
    assert all(math.isfinite(v) for v in errors.values())


def test_observe_mean_is_deterministic(small_batch: EpisodeBatch) -> None:
    model = make_model()
    with torch.no_grad():
        first = model.observe(small_batch)
        second = model.observe(small_batch)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_padded_steps_do_not_change_the_loss(small_batch: EpisodeBatch) -> None:
    model = make_model()
    changed = line_episodes(6, seed=3)
    pad = changed["filled"][..., 0] == 0
    gen = torch.Generator().manual_seed(1)
    for key in ("state", "obs", "reward", "actions_onehot"):
        field = changed[key]
        field[pad] = torch.randn(field[pad].shape, generator=gen) * 5
    changed["avail_actions"][pad] = 1 - changed["avail_actions"][pad]
    changed["terminated"][pad] = 1
    torch.manual_seed(5)
    reference, ref_stats = model.loss(small_batch)
    torch.manual_seed(5)
    padded, pad_stats = model.loss(changed)
    assert padded.item() == pytest.approx(reference.item(), rel=1e-6)
    for key in ref_stats:
        assert pad_stats[key].item() == pytest.approx(ref_stats[key].item(), rel=1e-6, abs=1e-7), key
    torch.manual_seed(5)
    assert model.rollout_error(changed, 3) == pytest.approx(model.rollout_error(small_batch, 3))

    changed["obs"][~pad] += 1.0
    torch.manual_seed(5)
    assert model.loss(changed)[0].item() != pytest.approx(reference.item(), rel=1e-6)


def test_balanced_kl_hand_example() -> None:
    # post N([1, 0], diag[0.5, 1]^2), prior N([0, 0], diag[1, 2]^2):
    # KL = (ln 2 + (0.25 + 1) / 2 - 0.5) + (ln 2 + 1 / 8 - 0.5) = 2 ln 2 - 0.25.
    expected = 2 * math.log(2) - 0.25
    post_mean = torch.tensor([1.0, 0.0], requires_grad=True)
    post_std = torch.tensor([0.5, 1.0])
    prior_mean = torch.tensor([0.0, 0.0], requires_grad=True)
    prior_std = torch.tensor([1.0, 2.0])
    loss, kl = balanced_kl(post_mean, post_std, prior_mean, prior_std, alpha=0.8, free_nats=0.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6) and kl.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d KL / d post_mean = (post_mean - prior_mean) / prior_std^2 = [1, 0]; split 0.2 (post) / 0.8 (prior).
    assert torch.allclose(post_mean.grad, torch.tensor([0.2, 0.0]))
    assert torch.allclose(prior_mean.grad, torch.tensor([-0.8, 0.0]))

    below, _ = balanced_kl(post_mean, post_std, prior_mean, prior_std, alpha=0.8, free_nats=1.0)
    assert below.item() == pytest.approx(expected, rel=1e-6)
    post_mean.grad = None
    clamped, kl = balanced_kl(post_mean, post_std, prior_mean, prior_std, alpha=0.8, free_nats=2.0)
    assert clamped.item() == pytest.approx(2.0) and kl.item() == pytest.approx(expected, rel=1e-6)
    clamped.backward()
    assert torch.all(post_mean.grad == 0)


def test_without_sale(small_batch: EpisodeBatch) -> None:
    torch.manual_seed(0)
    model = make_model(wm_use_sale=False)
    assert not any(isinstance(m, JointSALE) for m in model.modules())
    loss, stats = model.loss(small_batch)
    loss.backward()
    assert torch.isfinite(loss) and stats["wm_sale"].item() == 0.0
    assert math.isfinite(model.rollout_error(small_batch, 3)["obs_mse"])


def test_residual_decoding_adds_the_previous_step(small_batch: EpisodeBatch) -> None:
    torch.manual_seed(0)
    model = make_model(wm_residual_decoding=True)
    d, z = torch.randn(4, SMALL["wm_deter_dim"]), torch.randn(4, SMALL["wm_latent_dim"])
    prev_obs, prev_state = torch.randn(4, N_AGENTS, OBS_DIM), torch.randn(4, STATE_DIM)
    with pytest.raises(ValueError, match="decode needs the previous step's prev_obs and prev_state"):
        model.decode(d, z)
    plain = make_model()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        out, base = model.decode(d, z, prev_obs, prev_state), plain.decode(d, z)
    assert torch.allclose(out["obs"], base["obs"] + prev_obs) and torch.allclose(out["state"], base["state"] + prev_state)
    assert torch.equal(out["avail_logits"], base["avail_logits"])

    # heads that predict no change make the open-loop prediction the copy-last baseline exactly
    for head in (model.obs_head, model.state_head):
        last = head[-1]
        last.weight.data.zero_()
        last.bias.data.zero_()
    errors = model.rollout_error(small_batch, horizon=3)
    assert errors["obs_mse"] == pytest.approx(errors["obs_mse_copy_last"], rel=1e-6)
    loss, stats = model.loss(small_batch)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("residual", [False, True])
def test_fits_a_small_deterministic_env(residual: bool) -> None:
    torch.manual_seed(0)
    train = line_episodes(64, seed=0)
    held_out = line_episodes(64, seed=1)
    model = make_model(wm_residual_decoding=residual)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first_loss = model.loss(train)[0].item()
    for _ in range(200):
        loss, _ = model.loss(train)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimiser.step()
    assert loss.item() < 0.5 * first_loss
    errors = model.rollout_error(held_out, horizon=3)
    assert errors["obs_mse"] < 0.5 * errors["obs_mse_copy_last"], errors


# ----- the feed-forward (step) VAE world model -----

STEP_ARGS = {**SMALL, "wm_activation": "elu", "wm_use_sale": True, "wm_sale_detach": False, "wm_kl_alpha": 0.8, "wm_free_nats": 1.0, "wm_kl_beta": 1.0,
             "wm_sale_coef": 1.0, "wm_reward_coef": 1.0, "wm_term_coef": 1.0, "wm_avail_coef": 1.0, "wm_change_gate": True, "wm_rare_weight": 1.0,
             "wm_rng": "global"}


def make_step_model(**overrides) -> StepVAEWorldModel:
    return StepVAEWorldModel(STATE_DIM, OBS_DIM, N_AGENTS, N_ACTIONS, SimpleNamespace(**{**STEP_ARGS, **overrides}))


def test_step_model_registry_shapes_and_gradients(small_batch: EpisodeBatch) -> None:
    assert REGISTRY["step_vae"] is StepVAEWorldModel
    torch.manual_seed(0)
    model = make_step_model(wm_free_nats=0.0)  # with free nats the prior takes no gradient while the KL is below them
    loss, stats = model.loss(small_batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and stats["wm_loss"] == pytest.approx(loss.item())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing
    bs, seq_len = small_batch.batch_size, small_batch.max_seq_length
    d, z = model.observe(small_batch)
    x_dim = STATE_DIM + N_AGENTS * OBS_DIM
    assert model.deter_dim == x_dim and d.shape == (bs, seq_len, x_dim) and z.shape == (bs, seq_len, SMALL["wm_latent_dim"])
    # the carried state is the real step itself: decoding it gives the real observations and state back
    dec = model.decode(d[:, 2], z[:, 2])
    assert torch.equal(dec["obs"], small_batch["obs"][:, 2].float()) and torch.equal(dec["state"], small_batch["state"][:, 2].float())
    assert dec["avail_logits"].shape == (bs, N_AGENTS, N_ACTIONS)
    actions = small_batch["actions_onehot"][:, 0]
    d_next, z_next = model.imagine_step(d[:, 0], z[:, 0], actions)
    assert d_next.shape == (bs, x_dim) and z_next.shape == (bs, SMALL["wm_latent_dim"])
    trans = model.decode_transition(d[:, 0], z[:, 0], actions)
    assert trans["reward"].shape == (bs, 1) and trans["term_logit"].shape == (bs, 1)


def test_step_model_with_a_zero_change_head_is_copy_last(small_batch: EpisodeBatch) -> None:
    model = make_step_model()
    for head in (model.delta_head, model.latent_delta_head):
        head[-1].weight.data.zero_()
        head[-1].bias.data.zero_()
    errors = model.rollout_error(small_batch, horizon=3)
    assert errors["obs_mse"] == pytest.approx(errors["obs_mse_copy_last"], rel=1e-6)
    assert errors["obs_changed_mse"] == pytest.approx(errors["obs_changed_mse_copy_last"], rel=1e-6)
    assert errors["state_mse"] == pytest.approx(errors["state_mse_copy_last"], rel=1e-6)


def test_change_gate_keeps_elements_predicted_not_to_change() -> None:
    torch.manual_seed(0)
    model = make_step_model()
    h, z = torch.randn(5, SMALL["wm_hidden_dim"]), torch.randn(5, SMALL["wm_latent_dim"])
    value, logit = model._change(h, z)
    delta = model._delta(h, z)
    assert torch.equal(delta[logit > 0], value[logit > 0]) and (delta[logit <= 0] == 0).all()
    plain = make_step_model(wm_change_gate=False)
    assert plain._change(h, z)[1] is None and plain._delta(h, z).shape == delta.shape


def test_free_nats_apply_to_the_batch_mean_not_each_step() -> None:
    # two steps with KL 0 and 2 (1-d, unit std, means 0 and 2): mean 1. Per-step clamping at 1.5 would give
    # (1.5 + 2) / 2 = 1.75; on the batch mean it gives max(1, 1.5) = 1.5, and 2 lies above it.
    post_mean = torch.tensor([[0.0], [2.0]])
    ones = torch.ones(2, 1)
    mask = torch.ones(2, dtype=torch.bool)
    loss, kl = balanced_free_kl(post_mean, ones, torch.zeros(2, 1), ones, mask, alpha=0.8, free_nats=1.5)
    assert kl.item() == pytest.approx(1.0) and loss.item() == pytest.approx(1.5)
    loss, _ = balanced_free_kl(post_mean, ones, torch.zeros(2, 1), ones, mask, alpha=0.8, free_nats=0.5)
    assert loss.item() == pytest.approx(1.0)


def test_pooled_rollout_errors_equal_the_error_of_the_joined_batch() -> None:
    torch.manual_seed(0)
    model = make_step_model()
    a, b = line_episodes(5, seed=7), line_episodes(7, seed=8)
    joined = line_episodes(12, seed=7)
    for key in joined.transition_data:
        joined.transition_data[key][:5] = a.transition_data[key]
        joined.transition_data[key][5:] = b.transition_data[key]
    pooled = finish_rollout_error(add_sums(rollout_error_sums(model, a, 3), rollout_error_sums(model, b, 3)))
    assert pooled == pytest.approx(model.rollout_error(joined, 3))


def test_step_model_fits_the_small_env_better_than_copy_last() -> None:
    torch.manual_seed(0)
    train = line_episodes(64, seed=0)
    held_out = line_episodes(64, seed=1)
    model = make_step_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss, _ = model.loss(train)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    errors = model.rollout_error(held_out, horizon=3)
    assert errors["obs_mse"] < 0.2 * errors["obs_mse_copy_last"], errors
    assert errors["reward_mse"] < 0.5 * errors["reward_mse_zero"], errors


def test_rare_weight_keeps_the_corrected_probability_calibrated() -> None:
    """Positives weighed w times move the fitted logit up by log(w); taking log(w) off gives the true rate back."""
    model = make_step_model(wm_rare_weight=10.0)
    positive = torch.zeros(1000, 1, dtype=torch.bool)
    positive[:50] = True  # a 5% event
    raw = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([raw], lr=0.05)
    for _ in range(1500):
        optimiser.zero_grad()
        model._rare_bce(raw.expand(1000, 1), positive).backward()
        optimiser.step()
    assert torch.sigmoid(raw).item() == pytest.approx(0.5 / 1.45, abs=0.01)  # 10 x 0.05 against 0.95
    assert torch.sigmoid(raw - math.log(10.0)).item() == pytest.approx(0.05, abs=0.005)
