"""Groups of environments a runner steps together: in-process (`LocalEnvs`) or one process each (`SubprocEnvs`).

Both answer the same calls with the same plain data, so the runner's episode loop is shared:
`reset() -> [obs_dict]`, `step(indices, actions) -> [step_dict]`, where an obs_dict holds `state`,
`avail_actions`, `obs` (numpy) and a step_dict adds `reward`, `terminated` and `info`.

An env that fails (raises, or its worker process dies) ends the call with `EnvWorkerError`, which names
the env index and carries the traceback; `restart(index)` then replaces that env with a fresh one
(same seed, `seed + index`), and the other envs stay as they are.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv
from utils.errors import UserError

EnvFactory = Callable[[int], MultiAgentEnv]


class EnvWorkerError(RuntimeError):
    """An environment raised an exception, or the worker process holding it died or hung. `index` is the
    env reported in the message; `indices` every env that failed in the same call."""

    def __init__(self, message: str, index: int, indices: list[int] | None = None):
        super().__init__(message)
        self.index = index
        self.indices = [index] if indices is None else indices


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


def reset_env(env: MultiAgentEnv) -> dict[str, Any]:
    env.reset()
    return observe(env)


class LocalEnvs:
    """`n` envs stepped one after the other in this process."""

    def __init__(self, env_fn: EnvFactory, n: int):
        self.env_fn = env_fn
        self.envs = [env_fn(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self.envs)

    def _guard(self, index: int, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn(*args)` for env `index`; an env failure becomes EnvWorkerError (a UserError, e.g. a
        missing game binary found at the first reset, passes through unchanged)."""
        try:
            return fn(*args)
        except UserError:
            raise
        except Exception as exc:
            raise EnvWorkerError(
                f"env {index} failed in {what}: {type(exc).__name__}: {exc}\n--- env traceback ---\n{traceback.format_exc()}",
                index,
            ) from exc

    def get_env_info(self) -> dict[str, Any]:
        return self.envs[0].get_env_info()

    def reset(self) -> list[dict[str, Any]]:
        return [self._guard(i, "reset", reset_env, env) for i, env in enumerate(self.envs)]

    def step(self, indices: list[int], actions: np.ndarray) -> list[dict[str, Any]]:
        return [self._guard(i, "step", step_env, self.envs[i], a) for i, a in zip(indices, actions)]

    def call(self, index: int, method: str, *args: Any) -> Any:
        return getattr(self.envs[index], method)(*args)

    def get_stats(self) -> list[dict[str, Any]]:
        return [env.get_stats() for env in self.envs]

    def get_rng_states(self) -> list[Any]:
        return [env.get_rng_state() for env in self.envs]

    def set_rng_states(self, states: list[Any]) -> None:
        for env, state in zip(self.envs, states):
            env.set_rng_state(state)

    def restart(self, index: int) -> None:
        """Replace env `index` by a new one from the factory (its old one is closed if it still can be)."""
        try:
            self.envs[index].close()
        except Exception:  # a crashed env may not close cleanly; the new one replaces it either way
            pass
        self.envs[index] = self.env_fn(index)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn: Any, env_fn: EnvFactory, index: int, fault_path: str) -> None:
    """Serve commands for one env until `close`; any exception goes back to the parent with its traceback.
    A crash below Python (segfault, abort) writes the Python stack to `fault_path` for the parent to read.
    SIGINT is ignored: Ctrl-C reaches the whole process group, and the parent decides what happens."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fault_file = open(fault_path, "w")
    faulthandler.enable(file=fault_file)
    env = None
    try:
        env = env_fn(index)
        while True:
            cmd, data = conn.recv()
            if cmd == "step":
                conn.send(("ok", step_env(env, data)))
            elif cmd == "reset":
                conn.send(("ok", reset_env(env)))
            elif cmd == "close":
                env.close()
                conn.send(("ok", None))
                break
            else:
                conn.send(("ok", getattr(env, cmd)(*(data or ()))))
    except EOFError:
        pass
    except BaseException as exc:
        try:
            conn.send(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        except (BrokenPipeError, OSError):
            pass
    finally:
        conn.close()
        faulthandler.disable()
        fault_file.close()


def describe_exit(code: int | None) -> str:
    """Words for a worker's exit code: a signal by name (SIGKILL is most often the out-of-memory killer)."""
    if code is None:
        return "still running, not answering"
    if code < 0:
        name = signal.Signals(-code).name
        hint = ", most often the kernel's out-of-memory killer" if name == "SIGKILL" else ""
        return f"exit code {code}, killed by signal {-code} ({name}{hint})"
    return f"exit code {code}"


def default_start_method() -> str:
    """`fork` (fast), unless JAX is loaded in this process: JAX runs its own threads, and a process forked
    while one of them holds a lock hangs at its first JAX call (seen with smax after the parent had stepped
    an env), so the workers are then started with `spawn`."""
    return "spawn" if "jax" in sys.modules else "fork"


class SubprocEnvs:
    """One env per worker process, seeds `seed + index`. A worker that raises, dies or does not
    answer within `timeout` seconds ends the current call with `EnvWorkerError` naming the env index and
    carrying the worker's traceback (its Python stack, for a segfault); the other workers' replies to
    that call are read first, so they stay in step for the next call. `start_method`: multiprocessing's,
    `default_start_method()` when None."""

    def __init__(self, env_fn: EnvFactory, n: int, start_method: str | None = None, timeout: float | None = None):
        self.ctx = mp.get_context(start_method or default_start_method())
        self.env_fn = env_fn
        self.timeout = timeout
        self.fault_dir = tempfile.mkdtemp(prefix="env_workers_")
        self.conns: list[Any] = [None] * n
        self.procs: list[Any] = [None] * n
        self.pending: list[str | None] = [None] * n
        self.closed = False
        for i in range(n):
            self._start(i)

    def __len__(self) -> int:
        return len(self.conns)

    def _fault_path(self, index: int) -> str:
        return os.path.join(self.fault_dir, f"worker{index}.txt")

    def _start(self, index: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child, self.env_fn, index, self._fault_path(index)), daemon=True)
        proc.start()
        child.close()
        self.conns[index] = parent
        self.procs[index] = proc

    def _stop(self, index: int) -> None:
        """End worker `index` at once (it failed: its state is not to be trusted)."""
        proc = self.procs[index]
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        self.conns[index].close()

    def _send(self, index: int, cmd: str, data: Any = None) -> None:
        self.pending[index] = cmd
        try:
            self.conns[index].send((cmd, data))
        except (BrokenPipeError, OSError):
            pass  # the worker is gone; _recv reports how it ended

    def _recv(self, index: int) -> Any:
        conn, proc, cmd = self.conns[index], self.procs[index], self.pending[index]
        ready = wait([conn, proc.sentinel], timeout=self.timeout)
        if not ready:
            self._stop(index)
            raise EnvWorkerError(f"env worker {index} did not answer '{cmd}' within {self.timeout} s (env_worker_timeout); it was stopped", index)
        if conn in ready or conn.poll():
            try:
                status, payload = conn.recv()
            except (EOFError, OSError):
                status, payload = "dead", None
            if status == "ok":
                self.pending[index] = None
                return payload
            if status == "error":
                message, tb = payload
                self._stop(index)
                raise EnvWorkerError(f"env worker {index} failed in '{cmd}': {message}\n--- worker traceback ---\n{tb}", index)
        proc.join(timeout=5)
        code = proc.exitcode
        self._stop(index)
        raise EnvWorkerError(f"env worker {index} died during '{cmd}' without a reply ({describe_exit(code)}){self._fault_report(index)}", index)

    def _fault_report(self, index: int) -> str:
        try:
            with open(self._fault_path(index)) as f:
                text = f.read().strip()
        except OSError:
            return ""
        return f"\n--- worker traceback (faulthandler) ---\n{text}" if text else "; no Python traceback (the process exited without raising)"

    def _gather(self, indices: list[int]) -> list[Any]:
        """Replies of `indices` in order; every reply is read before the first failure is raised."""
        out, errors = [], []
        for i in indices:
            try:
                out.append(self._recv(i))
            except EnvWorkerError as exc:
                errors.append(exc)
        if errors:
            raise EnvWorkerError(str(errors[0]), errors[0].index, [e.index for e in errors])
        return out

    def get_env_info(self) -> dict[str, Any]:
        return self.call(0, "get_env_info")

    def reset(self) -> list[dict[str, Any]]:
        for i in range(len(self.conns)):
            self._send(i, "reset")
        return self._gather(list(range(len(self.conns))))

    def step(self, indices: list[int], actions: np.ndarray) -> list[dict[str, Any]]:
        for i, a in zip(indices, actions):
            self._send(i, "step", a)
        return self._gather(list(indices))

    def call(self, index: int, method: str, *args: Any) -> Any:
        self._send(index, method, args)
        return self._recv(index)

    def get_stats(self) -> list[dict[str, Any]]:
        return [self.call(i, "get_stats") for i in range(len(self.conns))]

    def get_rng_states(self) -> list[Any]:
        return [self.call(i, "get_rng_state") for i in range(len(self.conns))]

    def set_rng_states(self, states: list[Any]) -> None:
        for i, state in enumerate(states):
            self.call(i, "set_rng_state", state)

    def restart(self, index: int) -> None:
        """Replace worker `index` (failed or not) by a new process with a new env."""
        self._stop(index)
        self.pending[index] = None
        self._start(index)

    def close(self, force: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for conn, proc in zip(self.conns, self.procs):
            if not force and proc.is_alive() and not conn.closed:
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
        shutil.rmtree(self.fault_dir, ignore_errors=True)
