"""A stand-in for src/main.py in the sweep tests: takes the same command line, trains nothing, and writes a
sacred run folder (config.json as main.py would save it, run.json, metrics.json, info.json and the
checkpoint folder's record, model_dir.txt) at once.

FAKE_MAIN_BEHAVIOUR (JSON, "<alg>:<seed>" -> what happens) makes a run end otherwise:
  "fail"  run.json FAILED, exit 1 (an exception in training);
  "kill"  run.json left RUNNING with a checkpoint written, exit 137 (killed after checkpointing);
  "kill-early"  the same, but killed before any checkpoint.
Each call appends `<start> <end> fresh|resume <alg> <seed>` to <local_results_path>/calls.txt.
FAKE_MAIN_SLEEP (seconds) keeps each run alive that long.
"""

from __future__ import annotations

import json
import os
import sys
import time

from utils.config_loader import build_config, parse_overrides
from utils.resume import MODEL_DIR_FILE


def write_run(config: dict, status: str, run_dir: str | None = None) -> str:
    env_args = config["env_args"]
    task = env_args.get("map_name") or env_args.get("key") or "default"
    if run_dir is None:
        parent = os.path.join(config["local_results_path"], "sacred", task, config["name"])
        os.makedirs(parent, exist_ok=True)
        run_dir = os.path.join(parent, str(len(os.listdir(parent)) + 1))
        os.makedirs(run_dir)
    model_dir = os.path.join(config["local_results_path"], "models", f"{config['name']}_{task}_seed{config['seed']}_{os.path.basename(run_dir)}")
    for name, data in (
        ("config.json", config),
        ("run.json", {"status": status, "start_time": time.strftime("%Y-%m-%dT%H:%M:%S")}),
        ("metrics.json", {"test_return_mean": {"steps": [0, 100], "values": [0.0, float(config["seed"])]}}),
        ("info.json", {}),
    ):
        with open(os.path.join(run_dir, name), "w") as f:
            json.dump(data, f)
    with open(os.path.join(run_dir, MODEL_DIR_FILE), "w") as f:  # as main.py records it, before sacred's info.json
        f.write(model_dir)
    return model_dir


def main(argv: list[str]) -> int:
    start = time.time()
    overrides = argv[argv.index("with") + 1:]
    resume = parse_overrides(overrides).get("resume")
    if resume:
        with open(os.path.join(resume, "config.json")) as f:
            config = json.load(f)
        config["resume"] = resume
        write_run(config, "COMPLETED", resume)
        kind, outcome = "resume", "ok"
    else:
        alg = argv[0].split("=", 1)[1]
        env = argv[1].split("=", 1)[1]
        config = build_config(alg, env, overrides)
        config["env_args"]["seed"] = config["seed"]
        outcome = json.loads(os.environ.get("FAKE_MAIN_BEHAVIOUR", "{}")).get(f"{alg}:{config['seed']}", "ok")
        time.sleep(float(os.environ.get("FAKE_MAIN_SLEEP", "0")))
        status = {"ok": "COMPLETED", "fail": "FAILED"}.get(outcome, "RUNNING")
        model_dir = write_run(config, status)
        if outcome == "kill":
            os.makedirs(os.path.join(model_dir, "100"))
            open(os.path.join(model_dir, "100", "state.th"), "w").close()
        kind = "fresh"
    print(f"fake training {config['name']} seed {config['seed']}: {outcome}")
    with open(os.path.join(config["local_results_path"], "calls.txt"), "a") as f:
        f.write(f"{start} {time.time()} {kind} {config['name']} {config['seed']}\n")
    if outcome == "fail":
        print("RuntimeError: the fake run failed", file=sys.stderr)
        return 1
    return 137 if outcome.startswith("kill") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
