"""salemb's `mixer_foresight`: the backward-GRU roll-out encoder and the mixer's [state, foresight] input."""

import os

import pytest
import torch

import main
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from conftest import FAST
from modules.world_models.foresight import ForesightEncoder
from test_checkpoint import build_experiment, q_values
from utils.errors import ConfigError

SMALL = ["wm_latent_dim=8", "wm_hidden_dim=16", "foresight_dim=6", "mixer_foresight=True"]


def make_learner(tmp_path, *overrides):
    """A salemb learner with foresight on the toy env (needs the `toy_env_registered` fixture)."""
    argv = ["--config=salemb", "--env-config=lbf", "with", *FAST, "env=toy", f"local_results_path={tmp_path}", "seed=1",
            *SMALL, *overrides]
    exp = build_experiment(main.prepare_config(argv), tmp_path)
    exp.runner.close_env()
    return exp.learner, exp.runner.get_env_info()


def random_batch(env_info, B=3, T=8, filled=None):
    """Episodes of random observations, states and actions, all actions available; the first `filled`
    steps (default all) are filled."""
    gen = torch.Generator().manual_seed(0)
    scheme, groups, pre = build_scheme(env_info)
    A, obs, S, n = env_info["n_agents"], env_info["obs_shape"], env_info["state_shape"], env_info["n_actions"]
    L = T if filled is None else filled
    batch = EpisodeBatch(scheme, groups, B, T, preprocess=pre)
    batch.update({
        "obs": torch.rand(B, L, A, obs, generator=gen), "state": torch.rand(B, L, S, generator=gen),
        "avail_actions": torch.ones(B, L, A, n), "actions": torch.randint(n, (B, L, A, 1), generator=gen),
        "reward": torch.rand(B, L, 1, generator=gen), "terminated": torch.zeros(B, L, 1),
    }, ts=slice(0, L))
    return batch


def test_encoder_shapes_and_reads_the_roll_out_backwards():
    torch.manual_seed(0)
    enc = ForesightEncoder(5, 3, 7)
    rollout = torch.randn(10, 4, 8)
    out = enc(rollout)
    assert out.shape == (10, 7)
    cell = torch.nn.GRUCell(8, 7)
    cell.load_state_dict({k[:-3]: v for k, v in enc.gru.state_dict().items()})
    h = torch.zeros(10, 7)
    for k in reversed(range(4)):
        h = cell(rollout[:, k], h)
    assert torch.allclose(out, h, atol=1e-6)


def test_mixer_reads_state_and_foresight(tmp_path, toy_env_registered):
    learner, info = make_learner(tmp_path)
    batch = random_batch(info)
    assert learner.mixer.state_dim == info["state_shape"] + 6
    inputs = learner.mixer_inputs(batch)
    assert inputs.shape == (3, 8, info["state_shape"] + 6)
    assert torch.equal(inputs[..., : info["state_shape"]], batch["state"])


def test_roll_outs_start_only_where_a_td_term_reads(tmp_path, toy_env_registered):
    learner, info = make_learner(tmp_path)
    with torch.no_grad():
        foresight = learner.mixer_inputs(random_batch(info, filled=5))[..., -6:]
    assert (foresight[:, :6].abs().sum(-1) > 0).all()  # filled steps 0..4 and the bootstrap step 5
    assert (foresight[:, 6:] == 0).all()


def test_foresight_of_a_step_ignores_later_data(tmp_path, toy_env_registered):
    learner, info = make_learner(tmp_path)
    t = 3
    changed = random_batch(info)
    changed.transition_data["obs"][:, t + 1 :] += 1.0
    changed.transition_data["state"][:, t + 1 :] += 1.0
    with torch.no_grad():
        before, after = learner.mixer_inputs(random_batch(info)), learner.mixer_inputs(changed)
    assert torch.allclose(before[:, : t + 1], after[:, : t + 1], atol=1e-6)
    assert not torch.allclose(before[:, t + 1, -6:], after[:, t + 1, -6:], atol=1e-4)


def test_td_loss_trains_the_encoder_not_the_world_model(tmp_path, toy_env_registered):
    learner, info = make_learner(tmp_path)
    loss, _ = learner.td_loss(random_batch(info))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.foresight.parameters())
    assert all(p.grad is None for p in learner.world_model.parameters())
    assert set(map(id, learner.foresight.parameters())) <= set(map(id, learner.groups["q"]))


def test_foresight_needs_a_world_model(tmp_path, toy_env_registered):
    with pytest.raises(ConfigError, match="use_world_model=True"):
        make_learner(tmp_path, "use_world_model=False")


def test_foresight_trains_end_to_end_and_survives_a_checkpoint(run_main, tmp_path):
    config, stats = run_main("salemb", "lbf", "mixer_foresight=True", "imagine_start=0", "imagine_gate=False", "save_model=True")
    assert "loss_td" in stats and "loss_td_imagined" in stats
    (token,) = os.listdir(tmp_path / "models")
    cfg = dict(config, evaluate=True)
    a, b = build_experiment(cfg, tmp_path, "a"), build_experiment(cfg, tmp_path, "b")
    for exp in (a, b):
        exp.checkpoints.load(str(tmp_path / "models" / token), 0)
    batch = a.runner.run(test_mode=True)
    assert torch.equal(q_values(a, batch), q_values(b, batch))
    for pa, pb in zip(a.learner.foresight.parameters(), b.learner.foresight.parameters()):
        assert torch.equal(pa, pb)
    with torch.no_grad():
        assert torch.equal(a.learner.mixer_inputs(batch), b.learner.mixer_inputs(batch))
    a.runner.close_env()
    b.runner.close_env()
