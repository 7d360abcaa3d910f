"""Keys that components declare themselves (utils/component_config.py): loaded only with their
component, typed, checked, listed by --help, and named in the error when set without it."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

import main
from modules.agents import REGISTRY as agents
from modules.agents.rnn_agent import RNNAgent
from modules.mixers import REGISTRY as mixers
from utils.component_config import AT_LEAST_1, config_of, key
from utils.config_help import help_text
from utils.errors import ConfigError
from utils.registries import declared_keys


def prepare(alg: str, *overrides: str) -> dict:
    return main.prepare_config([f"--config={alg}", "--env-config=lbf", "with", *overrides])


def test_a_selected_components_keys_join_the_config_at_their_defaults():
    config = prepare("qplex")
    assert (config["qplex_heads"], config["qplex_hidden"]) == (10, 64)
    assert "qplex_heads" not in prepare("qmix")
    assert prepare("qmix", "mixer=qplex", "qplex_heads=3")["qplex_heads"] == 3  # selected by an override


@pytest.mark.parametrize("overrides, message", [
    (["qplex_heads=0"], "qplex_heads=0 is out of range: must be >= 1"),
    (["qplex_heads=2.5"], "qplex_heads=2.5 has the wrong type (float): expected an integer"),
    (["mixer=vdn", "qplex_heads=3"], "config key 'qplex_heads' belongs to mixer=qplex, which this run does not select"),
])
def test_a_declared_key_is_checked_like_any_other(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        prepare("qplex", *overrides)


def test_help_lists_declared_keys_under_their_component():
    text = help_text()
    assert "keys of mixer=qplex (valid only when the run selects it):" in text
    assert "qplex_heads = 10" in text


def test_two_components_declaring_one_key_is_an_error(monkeypatch):
    class ClashingAgent(RNNAgent):
        @dataclass(frozen=True)
        class Config:
            qplex_heads: int = key(1, "the same key as QPLEX's", AT_LEAST_1)

    monkeypatch.setitem(agents, "clashing", ClashingAgent)
    run = {"learner": "q_learner", "agent": "clashing"}
    assert declared_keys({**run, "mixer": "qmix"})["qplex_heads"].owner == "agent=clashing"
    with pytest.raises(ConfigError, match="'qplex_heads' is declared by both agent=clashing and mixer=qplex, with defaults 1 and 10"):
        declared_keys({**run, "mixer": "qplex"})


def test_one_key_declared_by_two_built_parts_with_one_default_is_shared():
    declared = declared_keys({"learner": "salemb_continuous_learner", "agent": "sale_actor", "mixer": "qmix",
                              "critic": "sale", "world_model": "vae", "action_selector": "gaussian"})
    assert declared["sale_detach"].default is True  # the learner's and (discrete) sale_rnn agent's key
    assert declared["critic_hidden_dim"].owner == "critic=sale" and "wm_deter_dim" in declared


def test_only_the_parts_a_run_builds_bring_their_keys():
    declared = declared_keys({"learner": "q_learner", "agent": "rnn", "mixer": "qmix", "world_model": "vae",
                              "critic": "mlp", "action_selector": "epsilon_greedy"})
    assert "mixing_embed_dim" in declared and "epsilon_start" in declared
    assert "wm_hidden_dim" not in declared and "critic_hidden_dim" not in declared  # q_learner builds neither


def test_config_of_reads_the_typed_keys_from_args_and_takes_a_missing_one_at_its_default():
    cfg = config_of(mixers["qplex"].Config, SimpleNamespace(qplex_heads=3, qplex_hidden=8, other=1))
    assert (cfg.qplex_heads, cfg.qplex_hidden) == (3, 8)
    assert config_of(mixers["qplex"].Config, {"qplex_heads": 3}).qplex_hidden == 64
