"""Finding the run to resume, and re-opening its sacred folder so its metrics continue in place."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from typing import Any

from sacred.observers import FileStorageObserver

from utils.checkpoint import list_checkpoints, load_latest
from utils.errors import ConfigError

MODEL_DIR_FILE = "model_dir.txt"


def locate_run(path: str, warn: Callable[[str], None]) -> tuple[str, str]:
    """`resume=` takes a sacred run folder or a models/<token> folder; returns (sacred run dir, models dir)."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "config.json")):
        model_dir = recorded_model_dir(path)
        if model_dir is None:
            raise ConfigError(f"resume='{path}': this sacred run recorded no checkpoint folder (run it with save_model=True)")
        return path, model_dir
    if list_checkpoints(path):
        _, _, files = load_latest(path, 0, ("state.th",), warn)
        return files["state.th"]["sacred_run_dir"], path
    raise ConfigError(
        f"resume='{path}' is neither a sacred run folder (results/sacred/<task>/<alg>/<id>) "
        "nor a checkpoint folder (results/models/<token>) holding a complete checkpoint"
    )


def record_model_dir(run_dir: str, model_dir: str) -> None:
    """Note the run's checkpoint folder in its sacred folder at once (`MODEL_DIR_FILE`, written atomically):
    sacred's info.json, which also holds it, is first written at the first heartbeat, after 10 s."""
    tmp = os.path.join(run_dir, MODEL_DIR_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(model_dir + "\n")
    os.replace(tmp, os.path.join(run_dir, MODEL_DIR_FILE))


def recorded_model_dir(run_dir: str) -> str | None:
    """The checkpoint folder a sacred run recorded (runs from before `MODEL_DIR_FILE`: info.json), or None."""
    path = os.path.join(run_dir, MODEL_DIR_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            return f.read().strip()
    return read_json(os.path.join(run_dir, "info.json")).get("model_dir")


def read_json(path: str) -> dict[str, Any]:
    """The JSON object in `path`; {} when the file is missing or was cut short (a kill during sacred's write)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def saved_config(run_dir: str) -> dict[str, Any]:
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def restore_metrics(run_dir: str, logger_state: dict[str, Any], saved_at: float) -> None:
    """Rewrite metrics.json as exactly the series logged up to the checkpoint (its logger state).

    sacred writes metrics.json only at each heartbeat, and in place, so after a kill the file may lack the
    last entries before the checkpoint, hold entries logged after it, or be cut short. The checkpoint's
    history is the truth; timestamps come from the old file where it has the entry, else `saved_at`
    (the checkpoint's time, seconds since the epoch)."""
    path = os.path.join(run_dir, "metrics.json")
    old = read_json(path)
    fallback = datetime.datetime.fromtimestamp(saved_at, datetime.timezone.utc).replace(tzinfo=None).isoformat()
    sacred_keys = set(logger_state.get("sacred_keys", logger_state["stats"]))
    metrics = {}
    for key, series in logger_state["stats"].items():
        if key not in sacred_keys:
            continue
        known = old.get(key, {})
        stamps = dict(zip(zip(known.get("steps", []), known.get("values", [])), known.get("timestamps", [])))
        metrics[key] = {
            "steps": [t for t, _ in series],
            "values": [v for _, v in series],
            "timestamps": [stamps.get((t, v), fallback) for t, v in series],
        }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(metrics, f, sort_keys=True, indent=2)
    os.replace(tmp, path)


class ResumingFileStorageObserver(FileStorageObserver):
    """A FileStorageObserver that writes into an existing run folder: metrics.json and cout.txt keep
    growing, and run.json keeps the run's first `start_time` and gains a `resumes` entry per resume (when
    it started, how the previous part ended, and `resumed_from`: the step, checkpoint, buffer or not)."""

    def __init__(self, run_dir: str, resumed_from: dict[str, Any]):
        super().__init__(os.path.dirname(run_dir))
        self.resume_dir = run_dir
        self.resumed_from = resumed_from

    def _make_run_dir(self, _id: Any) -> None:
        self.dir = self.resume_dir

    def started_event(self, ex_info: Any, command: Any, host_info: Any, start_time: datetime.datetime,
                      config: Any, meta_info: Any, _id: Any) -> Any:
        previous = read_json(os.path.join(self.resume_dir, "run.json"))
        result = super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)
        resume = {"start_time": start_time.isoformat(), "previous_status": previous.get("status"),
                  "previous_stop_time": previous.get("stop_time") or previous.get("heartbeat"), **self.resumed_from}
        self.run_entry["start_time"] = previous.get("start_time") or self.run_entry["start_time"]
        self.run_entry["resumes"] = [*previous.get("resumes", []), resume]
        self.save_json(self.run_entry, "run.json")
        return result
