"""The keys of salemb's learners (discrete `salemb_learner`, continuous `salemb_continuous_learner`): the
SALE encoders' and the world model's optimisation, its check, and the imagination. docs/salemb.md gives
each key, its default and the part of the method it reconstructs."""

from __future__ import annotations

from dataclasses import dataclass

from utils.component_config import AT_LEAST_1, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, key


@dataclass(frozen=True)
class SALEMBConfig:
    use_world_model: bool = key(True, 'False: no world model, no imagination (salemb_no_imagination)')
    sale_lr: float = key(0.0003, "SALE encoders' learning rate (decoupled mode)", POSITIVE)
    sale_coef: float = key(1.0, "weight of the agents' SALE prediction loss", NON_NEGATIVE)
    wm_lr: float = key(0.001, "world model's learning rate (decoupled mode)", POSITIVE)
    wm_coef: float = key(1.0, 'weight of the world-model loss in the summed objective', NON_NEGATIVE)
    wm_batch_size: int = key(32, 'wm_train_ratio 0: episodes of each sampled batch the world model trains on; > 0: windows per world-model step', AT_LEAST_1)
    wm_update_interval: int = key(2, 'wm_train_ratio 0: train the world model every N learner updates', AT_LEAST_1)
    wm_eval_interval: int = key(10000, 'env steps between world-model accuracy checks on fresh episodes', AT_LEAST_1)
    wm_eval_episodes: int = key(50, 'a check pools at least this many fresh episodes, each scored before the model trained on it', AT_LEAST_1)
    unified_loss: bool = key(False, 'True: one optimiser over the summed loss; False: TD7-style decoupled optimisers')
    imagine_coef: float = key(0.5, 'weight of the TD loss on imagined roll-outs (0: no imagined TD)', NON_NEGATIVE)
    imagine_batch_size: int = key(32, 'roll-outs per update (see imagine_start_sampling)', AT_LEAST_1)
    imagine_gate: bool = key(False, 'True: imagined TD only while the latest world-model check beats copy-last on observations (by imagine_gate_margin) and predict-zero on rewards')
    imagine_horizon: int = key(3, 'H: imagined steps per roll-out', AT_LEAST_1)
    imagine_real_start_td: bool = key(True, "False: no imagined TD term on the roll-out's first transition (from the real start state)")
    imagine_greedy: bool = key(False, 'True: greedy actions in imagination; False: the current epsilon')
    imagine_epsilon: float | None = key(None, 'null: imagination acts as imagine_greedy says; a number: this epsilon in imagination, which branches other joint actions from the real start states', (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1, 'null or a number in [0, 1]'))
    aux_grad_norm_clip: int = key(10, 'gradient clip of the SALE and world-model optimisers (decoupled mode)', POSITIVE)
    sale_refresh_tau: float = key(0.0, '0: fixed SALE copies refreshed by hard copies at each target interval (TD7); > 0: Polyak-averaged towards the trained encoders after every update', UNIT_INTERVAL)
    wm_train_ratio: float = key(0.0, "> 0: the world model's own schedule, this many replayed transitions per env step (Dreamer's train ratio), on windows from the whole buffer; 0: it trains on the Q-learner's batches", NON_NEGATIVE)
    wm_window: int = key(16, 'wm_train_ratio > 0: steps per window (wm_window - 1 transitions)', (lambda v: v >= 2, '>= 2 (a transition and its next step)'))
    imagine_start_sampling: str = key('episode', 'episode: one roll-out from a random valid step of each of the first imagine_batch_size episodes; step: imagine_batch_size roll-outs from valid steps across the whole batch', choices=('episode', 'step'))
    imagine_weighting: str = key('batch', "batch: imagine_coef x the imagined batch's mean TD; transition: real and imagined TD pooled, an imagined transition weighing imagine_coef real ones", choices=('batch', 'transition'))
    imagine_start: int = key(20000, 'env steps of world-model warm-up before imagined TD starts', NON_NEGATIVE)
    imagine_gate_margin: float = key(0.0, "the gate opens when the check's observation error < (1 - margin) x copy-last's", (lambda v: 0 <= v < 1, 'in [0, 1)'))
    mixer_foresight: bool = key(False, 'True: QMIX reads [state, GRU encoding of an H-step roll-out from that state] (MBVD)')
    foresight_dim: int = key(32, 'size of that roll-out encoding (mixer_foresight)', AT_LEAST_1)
    curiosity_coef: float = key(0.0, "> 0: every real transition's reward gets this x (the world model's one-step observation error over the batch's mean, minus 1): an exploration bonus, learners/curiosity.py", NON_NEGATIVE)
    curiosity_clip: float = key(10.0, "cap on a transition's error over the batch's mean in the curiosity bonus", POSITIVE)
