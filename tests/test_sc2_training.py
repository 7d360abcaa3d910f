"""Training end to end through `--env-config=sc2` / `sc2v2`: the real adapters (preflight, seeding,
info handling) around tests/fake_smac.py's envs, since StarCraft II itself cannot run here."""

import functools

import pytest

import envs
from envs.sc2 import SC2Env
from envs.sc2v2 import SC2v2Env
from fake_smac import FakeCapabilityWrapper, FakeStarCraft2Env
from test_sc2_adapters import make_sc2


@pytest.fixture
def fake_game(tmp_path, monkeypatch):
    home = tmp_path / "StarCraftII"
    make_sc2(home)
    monkeypatch.setenv("SC2PATH", str(home))
    monkeypatch.setitem(envs.REGISTRY, "sc2", functools.partial(SC2Env, env_cls=FakeStarCraft2Env))
    monkeypatch.setitem(envs.REGISTRY, "sc2v2", functools.partial(SC2v2Env, env_cls=FakeCapabilityWrapper))


@pytest.mark.parametrize("alg", ["qmix", "vdn", "iql", "salemb"])
@pytest.mark.parametrize("env", ["sc2", "sc2v2"])
def test_algs_train_on_the_sc2_adapters(fake_game, run_main, alg, env):
    _, stats = run_main(alg, env, "t_max=400", "batch_size=2", "imagine_start=0")
    assert "test_battle_won_mean" in stats and "battle_won_mean" in stats
    assert 0.0 <= stats["test_battle_won_mean"] <= 1.0
    assert "loss_td" in stats
