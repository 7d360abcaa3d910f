"""Groups of environments a runner steps together: in-process (`LocalEnvs`) or one process each (`SubprocEnvs`).

Both answer the same calls with the same plain data, so the runner's episode loop is shared:
`reset() -> [obs_dict]`, `step(indices, actions) -> [step_dict]`, where an obs_dict holds `state`,
`avail_actions`, `obs` (numpy) and a step_dict adds `reward`, `terminated` and `info`. A worker sends
its envs' arrays stacked as bytes (`pack_replies`); the parent's arrays are read-only views of them, to be
copied before the next call (the runner writes them into its batch at once).

An env that fails (raises, or its worker process dies) ends the call with `EnvWorkerError`, which names
the env index and carries the traceback; `restart(index)` then replaces that env with a fresh one, built
as `env_fn(index, restarts)` with its restart count, which `env_seed` turns into a fresh seed, and the
other envs stay as they are. A `UserError` raised by an env (e.g. a game that does not start) is raised
as it is, in a worker process too: it is the user's to fix, and no restart would help.
"""

from __future__ import annotations

import faulthandler
import gc
import multiprocessing as mp
import os
import random
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

# env_fn(index, restarts): env `index`, built for the first time (restarts 0) or after its n-th restart.
EnvFactory = Callable[[int, int], MultiAgentEnv]


def env_seed(seed: int | None, index: int, restarts: int) -> int | None:
    """The seed of env `index`: `seed + index`; after its n-th restart one derived from (seed, index, n),
    so that a restarted env does not replay the episodes it started with."""
    if seed is None:
        return None
    if restarts == 0:
        return seed + index
    return int(np.random.SeedSequence([seed, index, restarts]).generate_state(1)[0] % 2**31)


def seed_process(seed: int | None) -> None:
    """Seed this process's `random` and `numpy.random` (fresh OS entropy for None): a forked worker
    otherwise inherits the parent's state, and every worker would draw the same numbers."""
    random.seed(seed)
    np.random.seed(None if seed is None else seed % 2**32)


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


ARRAY_KEYS = ("state", "avail_actions", "obs")  # the arrays of an obs_dict, sent packed between processes


def encode_array(a: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """An array as (dtype, shape, C-order bytes) for a pipe message: a pickled ndarray costs ~7 us (its
    reduce and reconstruct), its bytes next to nothing."""
    return a.dtype.str, a.shape, a.tobytes()


def decode_array(encoded: tuple[str, tuple[int, ...], bytes]) -> np.ndarray:
    """The array of `encode_array`, read-only (a view of the message's bytes)."""
    dtype, shape, data = encoded
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def pack_replies(replies: list[dict[str, Any]]) -> tuple[tuple[Any, ...], list[dict[str, Any]]]:
    """A worker's obs_dicts or step_dicts for the pipe: each of `ARRAY_KEYS` stacked over its envs as one
    encoded array, the rest (reward, terminated, info) as they are: 4 LBF envs' replies went there and back
    in ~140 us against ~230 as per-env dicts of arrays."""
    arrays = tuple(encode_array(np.stack([r[k] for r in replies])) for k in ARRAY_KEYS)
    return arrays, [{k: v for k, v in r.items() if k not in ARRAY_KEYS} for r in replies]


def unpack_replies(packed: tuple[tuple[Any, ...], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`pack_replies`'s dicts again; their arrays are read-only views of the message."""
    arrays, rest = packed
    stacked = [decode_array(a) for a in arrays]
    return [dict(zip(ARRAY_KEYS, (s[i] for s in stacked)), **r) for i, r in enumerate(rest)]


def step_env(env: MultiAgentEnv, actions: np.ndarray) -> dict[str, Any]:
    reward, terminated, info = env.step(actions)
    env.record_frame()
    data = observe(env)
    data.update(reward=reward, terminated=terminated, info=info)
    return data


def reset_env(env: MultiAgentEnv) -> dict[str, Any]:
    env.reset()
    env.record_frame()
    return observe(env)


class LocalEnvs:
    """`n` envs stepped one after the other in this process."""

    def __init__(self, env_fn: EnvFactory, n: int):
        self.env_fn = env_fn
        self.restarts = [0] * n
        self.envs = [env_fn(i, 0) for i in range(n)]

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
        self.restarts[index] += 1
        self.envs[index] = self.env_fn(index, self.restarts[index])

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(
    conn: Any, env_fn: EnvFactory, indices: list[int], restarts: list[int], seed: int | None, fault_path: str
) -> None:
    """Serve commands for the envs `indices` (slot k holds env indices[k], built after restarts[k]
    restarts) until `close`, with this process's `random` and `numpy.random` seeded from `seed`. An
    exception goes back to the parent with the env index and its traceback (a UserError as itself); a
    crash below Python (segfault, abort) writes the Python stack to `fault_path` for the parent to read.
    SIGINT is ignored: Ctrl-C reaches the whole process group, and the parent decides what happens."""
    gc.enable()  # forked while the parent built the run with its collector paused (utils/gc_freeze.py)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fault_file = open(fault_path, "w")
    faulthandler.enable(file=fault_file)
    seed_process(seed)
    envs: list[MultiAgentEnv] = []
    current = indices[0]
    try:
        for index, count in zip(indices, restarts):
            current = index
            envs.append(env_fn(index, count))
        while True:
            cmd, data = conn.recv()
            if cmd == "step":
                slots, encoded = data
                replies = []
                for slot, actions in zip(slots, decode_array(encoded).copy()):
                    current = indices[slot]
                    replies.append(step_env(envs[slot], actions))
                conn.send(("ok", pack_replies(replies)))
            elif cmd == "reset":
                replies = []
                for slot, env in enumerate(envs):
                    current = indices[slot]
                    replies.append(reset_env(env))
                conn.send(("ok", pack_replies(replies)))
            elif cmd == "close":
                for env in envs:
                    env.close()
                conn.send(("ok", None))
                break
            else:
                slot, args = data
                current = indices[slot]
                conn.send(("ok", getattr(envs[slot], cmd)(*args)))
    except EOFError:
        pass
    except UserError as exc:
        try:
            conn.send(("user_error", exc))
        except (BrokenPipeError, OSError):
            pass
    except BaseException as exc:
        try:
            conn.send(("error", (current, f"{type(exc).__name__}: {exc}", traceback.format_exc())))
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
    """Envs in worker processes, `envs_per_worker` per process (env i in worker i // envs_per_worker). A
    worker seeds its process's `random` and `numpy.random` with `env_seed(seed, i, restarts)` of its first
    env i, so workers draw different numbers, and the same ones in every run with that seed. A worker
    steps its envs one after the other; fewer workers mean fewer messages
    and process wake-ups per step, which pays when the envs are cheap and the cores few.

    A worker that raises, dies or does not answer within `timeout` seconds ends the current call with
    `EnvWorkerError` naming the env index and carrying the worker's traceback (its Python stack, for a
    segfault); the worker is stopped, so the error's `indices` are all of that worker's envs. The other
    workers' replies to that call are read first, so they stay in step for the next call.
    `start_method`: multiprocessing's, `default_start_method()` when None."""

    def __init__(
        self,
        env_fn: EnvFactory,
        n: int,
        start_method: str | None = None,
        timeout: float | None = None,
        envs_per_worker: int = 1,
        seed: int | None = None,
    ):
        if envs_per_worker < 1:
            raise ValueError(f"envs_per_worker must be >= 1, got {envs_per_worker}")
        self.ctx = mp.get_context(start_method or default_start_method())
        self.env_fn = env_fn
        self.timeout = timeout
        self.n = n
        self.seed = seed
        self.restarts = [0] * n
        self.groups = [list(range(w, min(n, w + envs_per_worker))) for w in range(0, n, envs_per_worker)]
        self.fault_dir = tempfile.mkdtemp(prefix="env_workers_")
        self.conns: list[Any] = [None] * len(self.groups)
        self.procs: list[Any] = [None] * len(self.groups)
        self.pending: list[str | None] = [None] * len(self.groups)
        self.fresh = [False] * len(self.groups)
        self.closed = False
        for w in range(len(self.groups)):
            self._start(w)

    def __len__(self) -> int:
        return self.n

    def _worker_of(self, index: int) -> tuple[int, int]:
        """(worker, slot) holding env `index`."""
        size = len(self.groups[0])
        return index // size, index % size

    def _name(self, worker: int) -> str:
        envs = self.groups[worker]
        return f"env worker {worker}" if len(envs) == 1 and envs[0] == worker else f"env worker {worker} (envs {', '.join(map(str, envs))})"

    def _fault_path(self, worker: int) -> str:
        return os.path.join(self.fault_dir, f"worker{worker}.txt")

    def _start(self, worker: int) -> None:
        parent, child = self.ctx.Pipe()
        envs = self.groups[worker]
        restarts = [self.restarts[i] for i in envs]
        seed = env_seed(self.seed, envs[0], restarts[0])
        args = (child, self.env_fn, envs, restarts, seed, self._fault_path(worker))
        proc = self.ctx.Process(target=_worker, args=args, daemon=True)
        proc.start()
        child.close()
        self.conns[worker] = parent
        self.procs[worker] = proc
        self.fresh[worker] = True

    def _stop(self, worker: int) -> None:
        """End `worker` at once (it failed: its state is not to be trusted)."""
        proc = self.procs[worker]
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        self.conns[worker].close()

    def _send(self, worker: int, cmd: str, data: Any = None) -> None:
        self.pending[worker] = cmd
        self.fresh[worker] = False
        try:
            self.conns[worker].send((cmd, data))
        except (BrokenPipeError, OSError):
            pass  # the worker is gone; _recv reports how it ended

    def _recv(self, worker: int) -> Any:
        conn, proc, cmd = self.conns[worker], self.procs[worker], self.pending[worker]
        envs = self.groups[worker]
        # Without a time limit the reply is read at once (a worker that died ends the read with EOF, as its
        # end of the pipe closes); `wait` builds a selector every call (~20 us a worker a step).
        ready = (conn,) if self.timeout is None else wait([conn, proc.sentinel], timeout=self.timeout)
        if not ready:
            self._stop(worker)
            raise EnvWorkerError(
                f"{self._name(worker)} did not answer '{cmd}' within {self.timeout} s (env_worker_timeout); it was stopped",
                envs[0], envs,
            )
        if conn in ready or conn.poll():
            try:
                status, payload = conn.recv()
            except (EOFError, OSError):
                status, payload = "dead", None
            if status == "ok":
                self.pending[worker] = None
                return payload
            if status == "user_error":
                self._stop(worker)
                raise payload
            if status == "error":
                index, message, tb = payload
                self._stop(worker)
                where = "" if len(envs) == 1 else f" (env {index})"
                raise EnvWorkerError(
                    f"{self._name(worker)} failed in '{cmd}'{where}: {message}\n--- worker traceback ---\n{tb}",
                    index, envs,
                )
        proc.join(timeout=5)
        code = proc.exitcode
        self._stop(worker)
        raise EnvWorkerError(
            f"{self._name(worker)} died during '{cmd}' without a reply ({describe_exit(code)}){self._fault_report(worker)}",
            envs[0], envs,
        )

    def _fault_report(self, worker: int) -> str:
        try:
            with open(self._fault_path(worker)) as f:
                text = f.read().strip()
        except OSError:
            return ""
        return f"\n--- worker traceback (faulthandler) ---\n{text}" if text else "; no Python traceback (the process exited without raising)"

    def _gather(self, workers: list[int]) -> list[Any]:
        """Replies of `workers` in order; every reply is read before the first failure is raised, and the
        error then lists every env of every worker that failed."""
        out, errors = [], []
        for w in workers:
            try:
                out.append(self._recv(w))
            except EnvWorkerError as exc:
                errors.append(exc)
        if errors:
            raise EnvWorkerError(str(errors[0]), errors[0].index, [i for e in errors for i in e.indices])
        return out

    def get_env_info(self) -> dict[str, Any]:
        return self.call(0, "get_env_info")

    def reset(self) -> list[dict[str, Any]]:
        workers = list(range(len(self.groups)))
        for w in workers:
            self._send(w, "reset")
        return [reply for packed in self._gather(workers) for reply in unpack_replies(packed)]

    def step(self, indices: list[int], actions: np.ndarray) -> list[dict[str, Any]]:
        """Step the envs `indices` with `actions` (row k for env indices[k]); replies in the same order."""
        by_worker: dict[int, list[tuple[int, Any]]] = {}
        for i, a in zip(indices, actions):
            w, slot = self._worker_of(i)
            by_worker.setdefault(w, []).append((slot, a))
        workers = list(by_worker)
        for w in workers:
            slots, rows = zip(*by_worker[w])
            self._send(w, "step", (slots, encode_array(np.stack(rows))))
        replies = {}
        for w, packed in zip(workers, self._gather(workers)):
            for (slot, _), reply in zip(by_worker[w], unpack_replies(packed)):
                replies[self.groups[w][slot]] = reply
        return [replies[i] for i in indices]

    def call(self, index: int, method: str, *args: Any) -> Any:
        w, slot = self._worker_of(index)
        self._send(w, method, (slot, args))
        return self._recv(w)

    def get_stats(self) -> list[dict[str, Any]]:
        return [self.call(i, "get_stats") for i in range(self.n)]

    def get_rng_states(self) -> list[Any]:
        return [self.call(i, "get_rng_state") for i in range(self.n)]

    def set_rng_states(self, states: list[Any]) -> None:
        for i, state in enumerate(states):
            self.call(i, "set_rng_state", state)

    def restart(self, index: int) -> None:
        """Replace the worker holding env `index` (failed or not) by a new process with new envs: every
        env of that worker starts afresh. A worker started since its last use is not restarted again (an
        error names all of a worker's envs, and each is restarted in turn)."""
        w, _ = self._worker_of(index)
        if self.fresh[w]:
            return
        self._stop(w)
        self.pending[w] = None
        for i in self.groups[w]:
            self.restarts[i] += 1
        self._start(w)

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
