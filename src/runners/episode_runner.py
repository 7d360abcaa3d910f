"""Runs `batch_size_run` episodes at once with the controller in the loop and returns them as an EpisodeBatch.

`episode` keeps its envs in this process; `parallel` (a subclass) gives each env its own process.
Data layout of the returned batch: step t holds (state_t, obs_t, avail_t, action_t, reward_t,
terminated_t); the step after the last action holds the final observation (for bootstrapping) and
`filled` marks steps 0..T_ep.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from components.action_spaces import BoxActions, is_continuous
from components.episode_buffer import EpisodeBatch
from envs import REGISTRY as env_REGISTRY
from runners.env_group import EnvWorkerError, LocalEnvs, env_seed
from runners.env_restarts import EnvRestarts


def make_env(factory: Callable[..., Any], env_args: dict[str, Any], index: int, restarts: int) -> Any:
    """Env `index` of a runner after `restarts` restarts: same args, seed `env_seed(env_args['seed'], index,
    restarts)` (`seed + index` until its first restart). `factory` is the env registry's entry itself, not
    its name, so a worker started with `spawn` builds an env registered at run time (it is pickled by
    reference)."""
    kwargs = dict(env_args)
    seed = kwargs.get("seed")
    kwargs["seed"] = env_seed(None if seed is None else int(seed), index, restarts)
    return factory(**kwargs)


class EpisodeRunner:
    def __init__(self, args: Any, logger: Any):
        self.args = args
        self.logger = logger
        self.batch_size = args.batch_size_run
        self.envs = self._make_envs(functools.partial(make_env, env_REGISTRY[args.env], args.env_args))
        self.env_info = self.envs.get_env_info()
        self.episode_limit = self.env_info["episode_limit"]
        # continuous actions: the controller's [-1, 1] actions are mapped to the env's bounds here, and only here
        self.box = BoxActions.from_spaces(self.env_info["action_spaces"]) if is_continuous(self.env_info) else None
        self.t_env = 0
        self.train_returns: list[float] = []
        self.test_returns: list[float] = []
        self.train_stats: dict[str, float] = {}
        self.test_stats: dict[str, float] = {}
        self.log_train_stats_t = -1_000_000
        self.train_epsilon: float | None = None  # the exploration rate of the latest training episodes
        self.mac: Any = None
        self.restarts = EnvRestarts(args, logger)
        # called before failed envs are restarted: the run loop waits there for its side threads, so a
        # worker process is never forked while another thread is inside torch
        self.before_env_restart: Callable[[], None] = lambda: None

    def _make_envs(self, env_fn: Any) -> Any:
        return LocalEnvs(env_fn, self.batch_size)

    def setup(self, scheme: dict[str, Any], groups: dict[str, int], preprocess: Any, mac: Any) -> None:
        self.new_batch = functools.partial(
            EpisodeBatch, scheme, groups, self.batch_size, self.episode_limit + 1, preprocess=preprocess, device="cpu"
        )
        self.mac = mac

    def get_env_info(self) -> dict[str, Any]:
        return self.env_info

    @property
    def collection_holds_gil(self) -> bool:
        """Whether collecting keeps the GIL nearly all the time: envs in this process and a controller acting
        in numpy (`act_backend: numpy`), with no torch kernel or pipe wait to release it. A side thread
        that needs the GIL then waits for the interpreter's forced switches (5 ms each), so an update
        prepared during the collection (`learn_ahead`) lets the loop collect only once its backward pass
        needs no more GIL (`QLearner.let_go_in_backward`)."""
        return bool(getattr(self.mac, "act_numpy", False))

    def save_replay(self) -> None:
        self.envs.call(0, "save_replay")

    def close_env(self) -> None:
        self.envs.close()

    def _write_obs(self, views: dict[str, np.ndarray], rows: list[int], t: int, datas: list[dict[str, Any]]) -> None:
        for row, data in zip(rows, datas):
            views["state"][row, t] = data["state"]
            views["obs"][row, t] = data["obs"]
            views["avail_actions"][row, t] = data["avail_actions"]
            views["filled"][row, t] = 1

    def run(self, test_mode: bool = False) -> EpisodeBatch:
        """Play one episode in every env (until all have ended) and return the batch. A failed env is
        restarted and the whole batch collected again, as `restart_failed_envs` allows (see EnvRestarts)."""
        while True:
            try:
                return self._run_episodes(test_mode)
            except EnvWorkerError as error:
                self.before_env_restart()
                self.restarts.handle(error, self.envs, self.t_env)

    def _run_episodes(self, test_mode: bool) -> EpisodeBatch:
        batch = self.new_batch()
        views = {k: v.numpy() for k, v in batch.transition_data.items()}
        onehot = np.eye(views["actions_onehot"].shape[-1], dtype=views["actions_onehot"].dtype) if "actions_onehot" in views else None
        action_shape = views["actions"].shape[2:]  # [agents, 1] (indices) or [agents, D] (vectors)
        datas = self.envs.reset()
        active = list(range(self.batch_size))
        self._write_obs(views, active, 0, datas)
        self.mac.init_hidden(batch_size=self.batch_size)
        returns = [0.0] * self.batch_size  # Python floats: a numpy element's += costs ~1 us
        lengths = [0] * self.batch_size
        infos: list[dict[str, Any]] = [{} for _ in range(self.batch_size)]
        t = 0
        # inference mode, once an episode: no graph, and each op skips autograd's and view tracking's dispatch
        # (a step's ~20 small torch ops: 0.87x no_grad's collection with torch acting; the same numbers)
        with torch.inference_mode():
            while active:
                # all envs running: a slice, not a list (advanced indexing costs ~15 us a tensor per step)
                rows = slice(None) if len(active) == self.batch_size else active
                actions = self.mac.select_actions(batch, t_ep=t, t_env=self.t_env, bs=rows, test_mode=test_mode)
                actions = actions.cpu().numpy()
                views["actions"][rows, t] = actions.reshape(len(active), *action_shape)
                if onehot is not None:
                    views["actions_onehot"][rows, t] = onehot[actions]
                results = self.envs.step(active, actions if self.box is None else self.box.to_env(actions))
                still_active = []
                for row, res in zip(active, results):
                    info = res["info"]
                    limit = bool(info.get("episode_limit", False))
                    views["reward"][row, t] = res["reward"]
                    views["terminated"][row, t] = bool(res["terminated"]) and not limit
                    returns[row] += float(res["reward"])
                    lengths[row] += 1
                    if res["terminated"] or t + 1 >= self.episode_limit:
                        infos[row] = info
                    else:
                        still_active.append(row)
                self._write_obs(views, active, t + 1, results)
                active = still_active
                t += 1
        if not test_mode:
            self.t_env += sum(lengths)
        self._record(test_mode, returns, lengths, infos)
        return batch

    def _record(self, test_mode: bool, returns: list[float], lengths: list[int], infos: list[dict[str, Any]]) -> None:
        stats = self.test_stats if test_mode else self.train_stats
        store = self.test_returns if test_mode else self.train_returns
        if not test_mode:
            epsilon = getattr(self.mac.action_selector, "epsilon", None)
            self.train_epsilon = None if epsilon is None else float(epsilon)
        for info in infos:
            for k, v in info.items():
                if isinstance(v, (bool, int, float, np.number, np.bool_)):
                    stats[k] = stats.get(k, 0.0) + float(v)
        stats["n_episodes"] = stats.get("n_episodes", 0) + len(lengths)
        stats["ep_length"] = stats.get("ep_length", 0) + float(sum(lengths))
        store.extend(returns)
        if test_mode:
            if len(self.test_returns) >= self.args.test_nepisode:
                self._log(self.test_returns, self.test_stats, "test_")
        elif self.t_env - self.log_train_stats_t >= self.args.runner_log_interval:
            self.log_train_stats()

    def log_train_stats(self) -> None:
        """Log the stats of the training episodes played since the last log, and the epsilon they were
        played with (nothing when no episode was played since). The epsilon is the runner's own record,
        not the action selector's, which a test episode or a resume resets."""
        if not self.train_returns:
            return
        self._log(self.train_returns, self.train_stats, "")
        if self.train_epsilon is not None:
            self.logger.log_stat("epsilon", self.train_epsilon, self.t_env)
        self.log_train_stats_t = self.t_env

    def _log(self, returns: list[float], stats: dict[str, float], prefix: str) -> None:
        self.logger.log_stat(prefix + "return_mean", float(np.mean(returns)), self.t_env)
        self.logger.log_stat(prefix + "return_std", float(np.std(returns)), self.t_env)
        n = stats.pop("n_episodes", 1)
        for k, v in stats.items():
            self.logger.log_stat(prefix + k + "_mean", v / n, self.t_env)
        returns.clear()
        stats.clear()

    def state_dict(self) -> dict[str, Any]:
        """Counters, the returns and stats gathered since they were last logged, every env's RNG state and
        the action selector's."""
        return {
            "t_env": self.t_env,
            "log_train_stats_t": self.log_train_stats_t,
            "train_epsilon": self.train_epsilon,
            "train_returns": list(self.train_returns),
            "test_returns": list(self.test_returns),
            "train_stats": dict(self.train_stats),
            "test_stats": dict(self.test_stats),
            "env_rng": self.envs.get_rng_states(),
            "env_restarts": self.restarts.count,
            "action_selector": self._selector_state(),
        }

    def _selector_state(self) -> dict[str, Any] | None:
        """The action selector's own state (numpy acting's random stream), None for a selector without one."""
        selector = self.mac.action_selector
        return selector.state_dict() if hasattr(selector, "state_dict") else None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.t_env = state["t_env"]
        self.log_train_stats_t = state["log_train_stats_t"]
        self.train_epsilon = state.get("train_epsilon")
        self.train_returns = list(state.get("train_returns", []))
        self.test_returns = list(state.get("test_returns", []))
        self.train_stats = dict(state.get("train_stats", {}))
        self.test_stats = dict(state.get("test_stats", {}))
        env_rng = state.get("env_rng")
        if env_rng is not None and len(env_rng) == len(self.envs):
            self.envs.set_rng_states(env_rng)
        elif env_rng is not None:
            self.logger.console_logger.warning(
                f"The checkpoint holds the RNG states of {len(env_rng)} envs but this run has {len(self.envs)} "
                "(batch_size_run changed): the envs start from their seeds instead"
            )
        self.restarts.count = state.get("env_restarts", 0)
        if state.get("action_selector") is not None:
            self.mac.action_selector.load_state_dict(state["action_selector"])
