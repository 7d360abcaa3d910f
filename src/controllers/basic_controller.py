"""Multi-agent controller: one agent network shared by all agents (parameter sharing), batched over agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from components.action_selectors import REGISTRY as action_REGISTRY
from components.action_spaces import action_vector_key
from components.episode_buffer import EpisodeBatch
from modules.agents import REGISTRY as agent_REGISTRY
from modules.agents.gru_agent_base import ActingStep
from utils.component_config import config_of, key
from utils.errors import ConfigError

TimeIndex = int | torch.Tensor


class BasicMAC:
    """Builds each agent's input `[obs, last action one-hot, agent id one-hot]` and runs the shared agent.
With continuous actions the last action is the action vector itself.

    Decentralised: agent i's Q-values depend only on its own input and its own hidden state.

    `act_backend: numpy` runs the acting steps (one step of a whole batch, as the runners call it) in numpy
    on copies of the agent's weights taken at each batch's start, with the action selector's numpy stream: ~15 numpy calls, ~35 us a
    step where torch acting's ~10 torch calls cost ~55 (EPyMARL's settings, one env; 8 envs ~50 and ~70, more in the collection
    loop, where the env's Python evicts them from the caches). Q-values agree with torch's to float32 rounding, so a run's
    actions (and numbers) differ from `act_backend: torch`'s, not its behaviour; learning, imagination
    and every unroll stay in torch.
    """

    @dataclass(frozen=True)
    class Config:
        act_backend: str = key("torch", "acting steps in torch | numpy (faster on the CPU; same Q-values to float32 rounding, other random draws)",
                               choices=("torch", "numpy"))

    def __init__(self, scheme: dict[str, Any], groups: dict[str, int], args: Any):
        self.n_agents = args.n_agents
        self.args = args
        self.action_key = action_vector_key(scheme)
        self.input_shape = self._get_input_shape(scheme)
        self.agent = agent_REGISTRY[args.agent](self.input_shape, args)
        self.action_selector = action_REGISTRY[args.action_selector](args)
        self.hidden_states: torch.Tensor | None = None
        self._agent_ids: dict[tuple[int, str], torch.Tensor] = {}
        self._agent_ids_numpy: dict[int, np.ndarray] = {}
        self.act_numpy = config_of(self.Config, args).act_backend == "numpy"
        self._weights: dict[str, np.ndarray] = {}
        self._acting_step: ActingStep | None = None
        self._place(torch.device("cpu"))
        self._arrays_of: EpisodeBatch | None = None  # the batch `_arrays` views (`_batch_arrays`)
        self._arrays: dict[str, np.ndarray] = {}
        if self.act_numpy:
            self._check_numpy_acting(args)
            self.action_selector.seed(args.seed)

    def _check_numpy_acting(self, args: Any) -> None:
        if not hasattr(self.agent, "numpy_step"):
            raise ConfigError(f"act_backend=numpy needs an agent with a numpy step (agent=rnn); agent={args.agent} has none: use act_backend=torch")
        if not hasattr(self.action_selector, "select_numpy"):
            raise ConfigError(f"act_backend=numpy needs action_selector=epsilon_greedy, not {args.action_selector}: use act_backend=torch")
        if args.use_cuda is True:  # resolved from 'auto' by then
            raise ConfigError("act_backend=numpy acts on the CPU on copies of the agents' weights, and use_cuda=True puts them on the GPU: "
                              "use act_backend=torch")

    def select_actions(
        self, ep_batch: EpisodeBatch, t_ep: TimeIndex, t_env: int, bs: Any = slice(None), test_mode: bool = False,
        epsilon: float | None = None,
    ) -> torch.Tensor:
        """Actions `[len(bs), agents]` for the episodes `bs` at time `t_ep`.

        `t_ep` is one step for every episode, or a LongTensor `[batch]` giving each episode its own step
        (the imagination runner's roll-outs start at different steps). `epsilon`: the exploration rate
        for this call instead of the schedule's (salemb's `imagine_epsilon`).
        """
        if isinstance(t_ep, int):
            if self.act_numpy:
                return self._select_numpy(ep_batch, t_ep, t_env, bs, test_mode, epsilon)
            if self._cpu_choice:
                return self._select_cpu(ep_batch, t_ep, t_env, bs, test_mode, epsilon)
            avail_actions = ep_batch["avail_actions"][bs, t_ep]
        else:
            avail_actions = ep_batch["avail_actions"][torch.arange(ep_batch.batch_size), t_ep][bs]
        agent_outputs = self.forward(ep_batch, t_ep, test_mode=test_mode)
        override = {} if epsilon is None else {"epsilon": epsilon}  # epsilon-greedy only
        return self.action_selector.select_action(agent_outputs[bs], avail_actions.to(self.device), t_env, test_mode=test_mode, **override)

    def _select_cpu(
        self, ep_batch: EpisodeBatch, t: int, t_env: int, bs: Any, test_mode: bool, epsilon: float | None
    ) -> torch.Tensor:
        """`select_actions` for one step on the CPU with torch acting: the selector chooses on numpy views of
        the Q-values and of the batch's avail rows (no torch indexing, a few us a step), the agent's
        Q-values from its `acting_step` (`forward`'s numbers at less cost); the same actions."""
        q, self.hidden_states = self._step_fn()(self._step_inputs(ep_batch, t), self.hidden_states)
        q = q.detach().numpy().reshape(ep_batch.batch_size, self.n_agents, -1)[bs]
        avail = self._batch_arrays(ep_batch)["avail_actions"][bs, t]
        return torch.from_numpy(self.action_selector.choose(q, avail, t_env, test_mode=test_mode, epsilon=epsilon))

    def _step_fn(self) -> ActingStep:
        """The agent's one-step call for `_select_cpu`: its `acting_step` (taken once a batch: `init_hidden`
        and `to` drop it), else the agent itself."""
        if self._acting_step is None:
            self._acting_step = self.agent.acting_step() if hasattr(self.agent, "acting_step") else self.agent
        return self._acting_step

    def _select_numpy(
        self, ep_batch: EpisodeBatch, t: int, t_env: int, bs: Any, test_mode: bool, epsilon: float | None
    ) -> torch.Tensor:
        """`select_actions` for one step in numpy (`act_backend: numpy`); advances the hidden state."""
        q, h = self.agent.numpy_step(self._weights, self._step_inputs_numpy(ep_batch, t), self.hidden_states.numpy())
        self.hidden_states = torch.from_numpy(h)
        q = q.reshape(ep_batch.batch_size, self.n_agents, -1)[bs]
        avail = self._batch_arrays(ep_batch)["avail_actions"][bs, t]
        return torch.from_numpy(self.action_selector.select_numpy(q, avail, t_env, test_mode=test_mode, epsilon=epsilon))

    def forward(self, ep_batch: EpisodeBatch, t: TimeIndex, test_mode: bool = False) -> torch.Tensor:
        """Q-values `[batch, agents, actions]` at time t (an int or a per-episode LongTensor); advances the hidden state."""
        agent_inputs = self._build_inputs(ep_batch, t).to(self.device)
        agent_outs, self.hidden_states = self.agent(agent_inputs, self.hidden_states)
        return agent_outs.view(ep_batch.batch_size, self.n_agents, -1)

    def unroll(self, batch: EpisodeBatch) -> torch.Tensor:
        """Q-values for every step of the batch in one pass: `[batch, time, agents, actions]`.

        Starts from a zero hidden state and does not touch `self.hidden_states`.
        """
        return self.unroll_with_hidden(batch)[0]

    def unroll_with_hidden(
        self, batch: EpisodeBatch, h_init: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Q-values `[batch, time, agents, actions]` and GRU outputs `[batch * agents, time, hidden]`
        (row b * agents + a; index t holds the hidden state after step t).

        `h_init` `[batch * agents, hidden]` makes step 0 a context step: the unroll starts at step 1 from
        hidden state `h_init` (the state after step 0), step 0 only supplies the last action of step 1,
        and its Q-values are 0. Without it the unroll starts at step 0 from a zero hidden state.
        """
        bs, T = batch.batch_size, batch.max_seq_length
        inputs = self.build_sequence_inputs(batch).transpose(1, 2).reshape(bs * self.n_agents, T, -1)
        if h_init is None:
            h0 = self.agent.init_hidden().expand(bs * self.n_agents, -1)
            h_seq = self.agent.hidden_sequence(inputs, h0)
            q = self.agent_outputs(inputs, h_seq)
        else:
            h_seq = torch.cat([h_init.unsqueeze(1), self.agent.hidden_sequence(inputs[:, 1:], h_init)], dim=1)
            q = self.agent_outputs(inputs[:, 1:], h_seq[:, 1:])
            q = torch.cat([torch.zeros_like(q[:, :1]), q], dim=1)
        return q.view(bs, self.n_agents, T, -1).transpose(1, 2), h_seq

    def agent_outputs(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The agent's outputs for inputs `[N, T, input]` and GRU outputs `[N, T, hidden]`: Q-values `[N, T, actions]`."""
        return self.agent.q_values(inputs, h)

    def init_hidden(self, batch_size: int) -> None:
        self.hidden_states = self.agent.init_hidden().expand(batch_size * self.n_agents, -1).contiguous()
        self._acting_step = None  # taken again at this batch's first step (a weight's data may have been replaced since)
        self._arrays_of, self._arrays = None, {}
        if self.act_numpy:  # this batch's copies of the weights (an update since the last batch changed them)
            self._weights = self.agent.numpy_weights()

    def parameters(self):
        return self.agent.parameters()

    def named_parameters(self):
        return self.agent.named_parameters()

    def load_state(self, other_mac: BasicMAC) -> None:
        self.agent.load_state_dict(other_mac.agent.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return self.agent.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state)

    def to(self, device: str | torch.device) -> BasicMAC:
        self.agent.to(device)
        self._place(torch.device(device))
        return self

    def _place(self, device: torch.device) -> None:
        """Act on `device`: an int step on the CPU takes `_select_cpu` when the selector can `choose`
        (decided here, not each step); the agent's acting step is taken again."""
        self.device = device
        self._cpu_choice = device.type == "cpu" and hasattr(self.action_selector, "choose")
        self._acting_step = None

    def train(self, mode: bool = True) -> None:
        self.agent.train(mode)

    def _agent_id_onehot(self, batch_size: int, device: torch.device) -> torch.Tensor:
        key = (batch_size, str(device))
        if key not in self._agent_ids:
            eye = torch.eye(self.n_agents, device=device)
            self._agent_ids[key] = eye.unsqueeze(0).expand(batch_size, -1, -1)
        return self._agent_ids[key]

    def _build_inputs(self, batch: EpisodeBatch, t: TimeIndex) -> torch.Tensor:
        """The agents' inputs at step t, `[batch * agents, input]`."""
        bs = batch.batch_size
        obs = batch["obs"]
        if isinstance(t, int):
            if obs.device.type == "cpu":
                return self._step_inputs(batch, t)
            parts = [obs[:, t]]
            if self.args.obs_last_action:
                last = batch[self.action_key][:, t - 1]
                parts.append(last if t > 0 else torch.zeros_like(last))
        else:
            rows = torch.arange(bs, device=t.device)
            parts = [obs[rows, t]]
            if self.args.obs_last_action:
                last = batch[self.action_key][rows, (t - 1).clamp(min=0)]
                parts.append(last * (t > 0).view(-1, 1, 1).to(last.dtype))
        if self.args.obs_agent_id:
            parts.append(self._agent_id_onehot(bs, obs.device))
        return torch.cat(parts, dim=-1).reshape(bs * self.n_agents, -1)

    def _step_inputs(self, batch: EpisodeBatch, t: int) -> torch.Tensor:
        """`_build_inputs` for one step of a batch on the CPU, joined in numpy (the same numbers): an
        acting step's few rows cost less there than torch's indexing and concatenation."""
        return torch.from_numpy(self._step_inputs_numpy(batch, t))

    def _step_inputs_numpy(self, batch: EpisodeBatch, t: int) -> np.ndarray:
        """The agents' inputs at step t of a CPU batch as a numpy array `[batch * agents, input]`."""
        arrays = self._batch_arrays(batch)
        obs = arrays["obs"]
        parts = [obs[:, t]]
        if self.args.obs_last_action:
            last = arrays[self.action_key][:, t - 1]
            parts.append(last if t > 0 else np.zeros_like(last))
        if self.args.obs_agent_id:
            parts.append(self._agent_id_block(batch.batch_size, obs.dtype))
        return np.concatenate(parts, axis=-1).reshape(batch.batch_size * self.n_agents, -1)

    def _batch_arrays(self, batch: EpisodeBatch) -> dict[str, np.ndarray]:
        """Numpy views of a CPU batch's obs, avail_actions and last-action data, taken once per batch object
        (each view costs ~1 us, ~5 in the collection loop, and an acting step reads three)."""
        if self._arrays_of is not batch:
            keys = ("obs", "avail_actions", self.action_key) if self.args.obs_last_action else ("obs", "avail_actions")
            self._arrays = {k: batch.transition_data[k].detach().numpy() for k in keys}
            self._arrays_of = batch
        return self._arrays

    def _agent_id_block(self, batch_size: int, dtype: np.dtype) -> np.ndarray:
        """The agent-id one-hots `[batch, agents, agents]` of an acting step, built once per batch size."""
        if batch_size not in self._agent_ids_numpy:
            eye = np.eye(self.n_agents, dtype=dtype)
            self._agent_ids_numpy[batch_size] = np.ascontiguousarray(np.broadcast_to(eye, (batch_size, self.n_agents, self.n_agents)))
        return self._agent_ids_numpy[batch_size]

    def build_sequence_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """All time steps at once: `[batch, time, agents, input_shape]` (used by learners)."""
        last = torch.zeros_like(batch[self.action_key])
        last[:, 1:] = batch[self.action_key][:, :-1]
        return self.agent_inputs(batch["obs"], last)

    def agent_inputs(self, obs: torch.Tensor, last_actions: torch.Tensor) -> torch.Tensor:
        """Inputs from observations `[..., agents, obs]` and last actions (one-hot or vectors) `[..., agents, actions]`
        (ignored unless `obs_last_action`) -> `[..., agents, input_shape]`."""
        parts = [obs]
        if self.args.obs_last_action:
            parts.append(last_actions.to(obs.dtype))
        if self.args.obs_agent_id:
            eye = torch.eye(self.n_agents, device=obs.device, dtype=obs.dtype)
            parts.append(eye.expand(*obs.shape[:-2], -1, -1))
        return torch.cat(parts, dim=-1)

    def _get_input_shape(self, scheme: dict[str, Any]) -> int:
        input_shape = scheme["obs"]["vshape"]
        if self.args.obs_last_action:
            input_shape += scheme[self.action_key]["vshape"][0]
        if self.args.obs_agent_id:
            input_shape += self.n_agents
        return input_shape
