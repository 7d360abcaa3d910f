"""Action selectors: turn agent outputs `[batch, agents, actions]` into actions: indices `[batch, agents]`
(discrete) or vectors `[batch, agents, D]` in [-1, 1] (continuous)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from components.epsilon_schedules import DecayThenFlatSchedule
from utils.component_config import AT_LEAST_1, NON_NEGATIVE, UNIT_INTERVAL, config_of, key

CPU = torch.device("cpu")
ACTING_STREAM = 0x5E1EC7  # keeps the acting stream apart from other streams seeded by the run's seed


def acting_rng(seed: int) -> np.random.Generator:
    """The generator of numpy acting (`EpsilonGreedyActionSelector.select_numpy`) for a run's seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, ACTING_STREAM])))


def greedy_available(q: np.ndarray, available: np.ndarray) -> np.ndarray:
    """The best available action per row: q `[..., actions]`, available `[..., actions]` bool -> `[...]`."""
    return np.where(available, q, -np.inf).argmax(axis=-1)


def uniform_scores(available: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Scores whose argmax is a uniformly random available action per row: available `[..., actions]` 0/1
    (bool or integer), draws `[..., actions]` from Exp(1) (float32) -> float32 `[..., actions]`.

    argmax(p / q) with q ~ Exp(1) is how `torch.multinomial(avail.float(), 1)` draws on the CPU: the same
    action on the same draws."""
    return np.divide(available, draws, dtype=np.float32)


class EpsilonGreedyActionSelector:
    """Greedy over available actions, uniformly random among available ones with probability epsilon."""

    @dataclass(frozen=True)
    class Config:
        epsilon_start: float = key(1.0, "exploration epsilon at step 0", UNIT_INTERVAL)
        epsilon_finish: float = key(0.05, "exploration epsilon after epsilon_anneal_time steps", UNIT_INTERVAL)
        epsilon_anneal_time: int = key(50000, "env steps over which epsilon goes from epsilon_start to epsilon_finish", AT_LEAST_1)
        epsilon_decay: str = key("linear", "linear | exp", choices=("linear", "exp"))
        test_noise: float = key(0.0, "epsilon in test episodes", UNIT_INTERVAL)

    def __init__(self, args: Any):
        cfg = config_of(self.Config, args)
        self.schedule = DecayThenFlatSchedule(cfg.epsilon_start, cfg.epsilon_finish, cfg.epsilon_anneal_time, decay=cfg.epsilon_decay)
        self.epsilon = self.schedule.eval(0)
        self.test_noise = cfg.test_noise
        self.rng = acting_rng(0)  # numpy acting's own stream (`select_numpy`); the controller seeds it
        self._buffers: tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray] | None = None  # `_draws`' tensors on the CPU, their views

    def seed(self, seed: int) -> None:
        """Seed `select_numpy`'s stream from the run's seed (its state is kept in checkpoints)."""
        self.rng = acting_rng(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _epsilon(self, t_env: int, test_mode: bool, epsilon: float | None) -> float:
        """This call's exploration rate: `epsilon` when given, else the schedule's (`test_noise` in test
        mode), which is kept as `self.epsilon` for the runner to log."""
        if epsilon is None:
            epsilon = self.epsilon = self.test_noise if test_mode else self.schedule.eval(t_env)
        return epsilon

    def select_numpy(
        self, q: np.ndarray, avail: np.ndarray, t_env: int, test_mode: bool = False, epsilon: float | None = None
    ) -> np.ndarray:
        """`select_action` in numpy for `act_backend: numpy`: q `[batch, agents, actions]`, avail (nonzero =
        available) -> actions `[batch, agents]` int64. The draws, uniform `[batch, agents, 1 + actions]`
        (the first for epsilon, the rest for the random action), come from `self.rng`, drawn whatever
        epsilon's value (but 0)."""
        epsilon = self._epsilon(t_env, test_mode, epsilon)
        available = avail != 0
        greedy = greedy_available(q, available)
        if epsilon <= 0.0:
            return greedy
        u = self.rng.random((*q.shape[:-1], q.shape[-1] + 1), dtype=np.float32)
        random_choice = np.where(available, u[..., 1:], -1.0).argmax(axis=-1)
        return np.where(u[..., 0] < epsilon, random_choice, greedy)

    def select_action(
        self, agent_inputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False,
        epsilon: float | None = None,
    ) -> torch.Tensor:
        """Actions `[batch, agents]` on the inputs' device; `epsilon` replaces the schedule's for this call
        (and is not kept as the selector's `epsilon`, which the runner logs). The choice is `choose`'s, in
        numpy, with the random numbers from torch's generator on the inputs' device."""
        device = agent_inputs.device
        chosen = self.choose(agent_inputs.detach().cpu().numpy(), avail_actions.cpu().numpy(), t_env, test_mode, epsilon, device)
        return torch.from_numpy(chosen).to(device)

    def choose(
        self, q: np.ndarray, avail: np.ndarray, t_env: int, test_mode: bool = False, epsilon: float | None = None,
        device: torch.device = CPU,
    ) -> np.ndarray:
        """`select_action` on numpy arrays: q `[batch, agents, actions]`, avail 0/1 (1 = available) ->
        actions `[batch, agents]` int64. An acting step's few rows cost less in numpy than in a chain of
        small torch ops. The random numbers come from torch's generator on `device`, uniform `[batch,
        agents]` then Exp(1) `[batch, agents, actions]`, drawn whatever epsilon's value (but 0), so a run's
        draws do not depend on its choices."""
        epsilon = self._epsilon(t_env, test_mode, epsilon)
        masked = np.where(avail, q, -np.inf)
        if epsilon <= 0.0:
            return masked.argmax(axis=-1)
        rand, draws = self._draws(q.shape, device)
        # one argmax over each row's scores: `uniform_scores` where the row explores, else the masked Q-values
        scores = np.where(rand < np.float32(epsilon), uniform_scores(avail, draws), masked)
        return scores.argmax(axis=-1)

    def _draws(self, shape: tuple[int, ...], device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        """This step's draws from torch's generator on `device` for q of `shape` `[batch, agents, actions]`:
        uniform `[batch, agents, 1]` (`torch.rand`'s `[batch, agents]`), then Exp(1) `[batch, agents, actions]`.
        On the CPU they are drawn into tensors kept for these shapes (what `torch.rand` and
        `torch.empty(...).exponential_()` draw, without their allocations) and returned as numpy views of
        them taken once, valid until the next call. The tensors are normal ones, not inference tensors, so
        that the draws work in and out of inference mode."""
        if device is not CPU and device.type != "cpu":
            return torch.rand((*shape[:-1], 1), device=device).cpu().numpy(), torch.empty(shape, device=device).exponential_().cpu().numpy()
        if self._buffers is None or self._buffers[1].shape != shape:
            with torch.inference_mode(False):
                rand, draws = torch.empty((*shape[:-1], 1)), torch.empty(shape)
            self._buffers = (rand, draws, rand.numpy(), draws.numpy())
        rand, draws, rand_view, draws_view = self._buffers
        rand.uniform_()
        draws.exponential_()
        return rand_view, draws_view


class GaussianActionSelector:
    """Exploration around a deterministic actor: its action `[batch, agents, D]` plus N(0, act_noise^2)
    noise (`test_noise` in test mode), clipped to [-1, 1]; uniformly random in [-1, 1] for the first
    `start_steps` env steps of training. Padded dimensions (avail 0) are always 0."""

    @dataclass(frozen=True)
    class Config:
        act_noise: float = key(0.1, "std of the Gaussian exploration noise on actions in [-1, 1]", NON_NEGATIVE)
        start_steps: int = key(10000, "env steps of uniformly random actions before the actors act", NON_NEGATIVE)
        test_noise: float = key(0.0, "std of the Gaussian noise on test episodes' actions", UNIT_INTERVAL)

    def __init__(self, args: Any):
        cfg = config_of(self.Config, args)
        self.act_noise = cfg.act_noise
        self.start_steps = cfg.start_steps
        self.test_noise = cfg.test_noise

    def select_action(self, agent_inputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False) -> torch.Tensor:
        if not test_mode and t_env < self.start_steps:
            actions = torch.rand_like(agent_inputs) * 2.0 - 1.0
        else:
            std = self.test_noise if test_mode else self.act_noise
            actions = agent_inputs + std * torch.randn_like(agent_inputs) if std > 0 else agent_inputs
        return actions.clamp(-1.0, 1.0) * avail_actions.to(actions.dtype)


REGISTRY: dict[str, type] = {"epsilon_greedy": EpsilonGreedyActionSelector, "gaussian": GaussianActionSelector}

# Selectors that act with continuous (Box) actions.
CONTINUOUS_ACTIONS: set[str] = {"gaussian"}
