"""Core learning check: QMIX, VDN and IQL, several seeds, on two LBF tasks; prints final/best test return.

    python scripts/learning_check.py                       # the full check (3 seeds; 50k and 400k steps)
    python scripts/learning_check.py --scale 0.1 --jobs 2  # a quicker look at a tenth of the budget

Each run is `src/main.py` in its own process (output in <out>/logs/); the table is read back from the
sacred metrics.json files, so it can be re-printed from an existing folder with --report-only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"Foraging-5x5-2p-1f-v3": 50_000, "Foraging-8x8-2p-3f-v3": 400_000}
GOALS = {("qmix", "Foraging-5x5-2p-1f-v3"): 0.95, ("qmix", "Foraging-8x8-2p-3f-v3"): 0.8}


def run_one(alg: str, task: str, seed: int, t_max: int, out: Path, extra: list[str]) -> tuple[str, str, int, float, int]:
    log = out / "logs" / f"{alg}_{task}_seed{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    test_interval = max(1000, t_max // 40)
    cmd = [
        sys.executable, str(ROOT / "src" / "main.py"), f"--config={alg}", "--env-config=lbf", "with",
        f"env_args.key={task}", f"t_max={t_max}", f"seed={seed}", f"local_results_path={out}",
        f"test_interval={test_interval}", f"log_interval={test_interval}", f"runner_log_interval={test_interval}",
        f"learner_log_interval={test_interval}", "test_nepisode=50", "use_cuda=False", *extra,
    ]
    start = time.time()
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    return alg, task, seed, time.time() - start, code


def collect(out: Path) -> dict[tuple[str, str], list[dict]]:
    rows: dict[tuple[str, str], list[dict]] = {}
    for metrics_file in sorted((out / "sacred").glob("*/*/*/metrics.json")):
        run_dir = metrics_file.parent
        config = json.loads((run_dir / "config.json").read_text())
        run = json.loads((run_dir / "run.json").read_text())
        metrics = json.loads(metrics_file.read_text())
        test = metrics.get("test_return_mean", {"values": [], "steps": []})
        if not test["values"] or run.get("status") != "COMPLETED":
            continue
        sps = metrics.get("steps_per_sec", {"values": [float("nan")]})["values"][-1]
        rows.setdefault((config["name"], config["env_args"]["key"]), []).append({
            "seed": config["seed"], "final": test["values"][-1], "best": max(test["values"]),
            "t_env": test["steps"][-1], "sps": sps,
        })
    return rows


def report(rows: dict[tuple[str, str], list[dict]], walls: dict[tuple[str, str, int], float]) -> None:
    print(f"{'task':<24} {'alg':<5} {'seed':>5} {'final':>7} {'best':>7} {'t_env':>8} {'steps/s':>8} {'wall':>8}")
    for (alg, task), runs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        for r in sorted(runs, key=lambda r: r["seed"]):
            wall = walls.get((alg, task, r["seed"]))
            wall_s = f"{wall / 60:.1f}m" if wall else "-"
            print(f"{task:<24} {alg:<5} {r['seed']:>5} {r['final']:>7.3f} {r['best']:>7.3f} {r['t_env']:>8} {r['sps']:>8.0f} {wall_s:>8}")
        finals = [r["final"] for r in runs]
        mean = sum(finals) / len(finals)
        goal = GOALS.get((alg, task))
        verdict = "" if goal is None else (f"  goal >= {goal}: " + ("met" if min(finals) >= goal else "NOT met"))
        print(f"{task:<24} {alg:<5} {'mean':>5} {mean:>7.3f}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algs", nargs="+", default=["qmix", "vdn", "iql"])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every task's env-step budget")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "learning_check")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("extra", nargs="*", help="extra `key=value` overrides for every run")
    args = parser.parse_args()
    walls: dict[tuple[str, str, int], float] = {}
    if not args.report_only:
        jobs = [(a, t, s, int(TASKS.get(t, 100_000) * args.scale)) for t in args.tasks for a in args.algs for s in range(1, args.seeds + 1)]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_one, a, t, s, n, args.out, args.extra) for a, t, s, n in jobs]
            for done, fut in enumerate(futures, 1):
                alg, task, seed, wall, code = fut.result()
                walls[(alg, task, seed)] = wall
                status = "ok" if code == 0 else f"FAILED (exit {code}, see {args.out}/logs)"
                print(f"[{done}/{len(jobs)}] {alg} {task} seed {seed}: {wall / 60:.1f} min {status}", flush=True)
    report(collect(args.out), walls)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
