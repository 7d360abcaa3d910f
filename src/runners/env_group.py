"""Groups of environments a runner steps together: in-process (`LocalEnvs`) or one process each (`SubprocEnvs`).

Both answer the same calls with the same plain data, so the runner's episode loop is shared:
`reset() -> [obs_dict]`, `step(indices, actions) -> [step_dict]`, where an obs_dict holds `state`,
`avail_actions`, `obs` (numpy) and a step_dict adds `reward`, `terminated` and `info`.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv

EnvFactory = Callable[[int], MultiAgentEnv]


class EnvWorkerError(RuntimeError):
    """An environment in a worker process raised an exception or died."""


def observe(env: MultiAgentEnv) -> dict[str, Any]:
    return {
        "state": env.get_state(),
        "avail_actions": np.asarray(env.get_avail_actions()),
        "obs": np.asarray(env.get_obs()),
    }


def step_env(env: MultiAgentEnv, actions: np.ndarray) -> dict[str, Any]:
    reward, terminated, info = env.step(actions)
    data = observe(env)
    data.update(reward=reward, terminated=terminated, info=info)
    return data


class LocalEnvs:
    """`n` envs stepped one after the other in this process."""

    def __init__(self, env_fn: EnvFactory, n: int):
        self.envs = [env_fn(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self.envs)

    def get_env_info(self) -> dict[str, Any]:
        return self.envs[0].get_env_info()

    def reset(self) -> list[dict[str, Any]]:
        out = []
        for env in self.envs:
            env.reset()
            out.append(observe(env))
        return out

    def step(self, indices: list[int], actions: np.ndarray) -> list[dict[str, Any]]:
        return [step_env(self.envs[i], a) for i, a in zip(indices, actions)]

    def call(self, index: int, method: str) -> Any:
        return getattr(self.envs[index], method)()

    def get_stats(self) -> list[dict[str, Any]]:
        return [env.get_stats() for env in self.envs]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn: Any, env_fn: EnvFactory, index: int) -> None:
    """Serve commands for one env until `close`; any exception goes back to the parent with its traceback."""
    env = None
    try:
        env = env_fn(index)
        while True:
            cmd, data = conn.recv()
            if cmd == "step":
                conn.send(("ok", step_env(env, data)))
            elif cmd == "reset":
                env.reset()
                conn.send(("ok", observe(env)))
            elif cmd == "close":
                env.close()
                conn.send(("ok", None))
                break
            else:
                conn.send(("ok", getattr(env, cmd)()))
    except (KeyboardInterrupt, EOFError):
        pass
    except BaseException as exc:
        try:
            conn.send(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        except (BrokenPipeError, OSError):
            pass
    finally:
        conn.close()


class SubprocEnvs:
    """One env per worker process (forked), seeds `seed + index`. A worker that raises or dies ends the
    current call with `EnvWorkerError` naming the env index and carrying the worker's traceback."""

    def __init__(self, env_fn: EnvFactory, n: int, start_method: str = "fork", timeout: float | None = None):
        ctx = mp.get_context(start_method)
        self.timeout = timeout
        self.conns = []
        self.procs = []
        for i in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_fn, i), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.closed = False

    def __len__(self) -> int:
        return len(self.conns)

    def _send(self, index: int, cmd: str, data: Any = None) -> None:
        try:
            self.conns[index].send((cmd, data))
        except (BrokenPipeError, OSError):
            self._recv(index)
            raise EnvWorkerError(f"env worker {index} is gone (exit code {self.procs[index].exitcode})") from None

    def _recv(self, index: int) -> Any:
        conn, proc = self.conns[index], self.procs[index]
        ready = wait([conn, proc.sentinel], timeout=self.timeout)
        if not ready:
            raise EnvWorkerError(f"env worker {index} did not answer within {self.timeout} s")
        if conn in ready or conn.poll():
            try:
                status, payload = conn.recv()
            except EOFError:
                status, payload = "dead", None
            if status == "ok":
                return payload
            if status == "error":
                message, tb = payload
                self.close(force=True)
                raise EnvWorkerError(f"env worker {index} failed: {message}\n--- worker traceback ---\n{tb}")
        proc.join(timeout=1)
        code = proc.exitcode
        self.close(force=True)
        raise EnvWorkerError(
            f"env worker {index} died without a reply (exit code {code}"
            f"{', killed by signal ' + str(-code) if code is not None and code < 0 else ''})"
        )

    def get_env_info(self) -> dict[str, Any]:
        return self.call(0, "get_env_info")

    def reset(self) -> list[dict[str, Any]]:
        for i in range(len(self.conns)):
            self._send(i, "reset")
        return [self._recv(i) for i in range(len(self.conns))]

    def step(self, indices: list[int], actions: np.ndarray) -> list[dict[str, Any]]:
        for i, a in zip(indices, actions):
            self._send(i, "step", a)
        return [self._recv(i) for i in indices]

    def call(self, index: int, method: str) -> Any:
        self._send(index, method)
        return self._recv(index)

    def get_stats(self) -> list[dict[str, Any]]:
        return [self.call(i, "get_stats") for i in range(len(self.conns))]

    def close(self, force: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for conn, proc in zip(self.conns, self.procs):
            if not force and proc.is_alive():
                try:
                    conn.send(("close", None))
                    if conn.poll(5):
                        conn.recv()
                except (BrokenPipeError, EOFError, OSError):
                    pass
            proc.join(timeout=0 if force else 5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            conn.close()
