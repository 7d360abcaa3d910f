"""The method's low-budget comparison: salemb against QMIX and VDN on three LBF tasks and SMAX 3m and 8m.

    python -m tools.checks.method_comparison --seeds 5 --jobs 2                 # run what is missing, then report
    python -m tools.checks.method_comparison --report-only                      # the tables from the runs so far
    python -m tools.checks.method_comparison --algs qmix vdn --tasks 3m 8m      # a part of the grid
    python -m tools.checks.method_comparison --algs salemb qmix_control=qmix:updates_per_env_step=0.02

Every run: 100k env steps (`--t-max`), the parallel runner with 4 episodes per batch, 32 greedy test
episodes every 2.5k steps, a checkpoint every 20k steps (an interrupted run resumes from it), and on LBF
the presence observation encoding (`ENV_SETTINGS`). Each
algorithm is a config name, or `label=config:key=value,key=value` for a variant (its runs are named
`label`), e.g. the control for a method that takes more Q-network updates per env step than QMIX. Runs
go through the sweep (`python -m tools.sweep`, one sweep per algorithm and env), so starting the script
again skips the completed runs and resumes the interrupted ones.

Sessions on this machine do not keep `results/`, so every completed run's scores are also kept in
`--record` (docs/data/method_comparison_runs.csv, committed): one row per run (task, algorithm label,
seed, t_max, the experiment's fingerprint, AUC, final, wall-clock minutes). The fingerprint is a hash of
the whole config but the seed and the output and speed-only keys (`results_groups.experiment_id`), so a
run is skipped only when the record holds the same experiment and seed, and rows of one label with
different fingerprints are reported apart (`label #fingerprint`), never pooled. Each sweep's runs are
recorded as soon as it ends. Beside the record, `<record>.configs.json` keeps each experiment's flat
config, so that a key added to the code later (at a default that keeps the old numbers, as the project's
rule asks) does not orphan the runs recorded before it: such rows move to the new fingerprint (`rekey`).

When a variant's settings become an algorithm's defaults (or old defaults are kept as a variant),
`--adopt r32=salemb` moves the record rows of label `r32` whose config is `salemb`'s but for the name onto
`salemb` (and its fingerprint), so no run is repeated.

The report, per task and algorithm of `--algs` (other labels in the record, such as ablations, are left
out of the table and the verdict): seeds, the IQM over seeds of the AUC (the test-return curve's
average height) and of the final test return, each with its 95% stratified-bootstrap interval (rliable);
then per task salemb's IQM AUC over QMIX's, whether it is above VDN's (and every other algorithm's),
and whether its AUC interval lies above QMIX's. The goal: salemb's IQM AUC at least 1.25x QMIX's and
above the others on at least 4 of the 5 tasks, with intervals apart on at least 2.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from tools import ROOT
from tools.analysis.results_groups import experiment_id, flat_experiment_config, load_groups, report
from tools.analysis.results_stats import area_under_curve, iqm, stratified_bootstrap_ci
from tools.checks.runs import wall_seconds
from tools.sweep.cli import run_sweeps
from tools.sweep.grid import ConfigCache, expand
from utils.config_loader import load_default, load_yaml
from utils.dicts import recursive_update
from utils.registries import all_declared_keys, declared_keys

TASKS = {
    "Foraging-8x8-2p-3f-v3": ("lbf", "env_args.key"),
    "Foraging-8x8-2p-2f-coop-v3": ("lbf", "env_args.key"),
    "Foraging-10x10-3p-3f-v3": ("lbf", "env_args.key"),
    "3m": ("smax", "env_args.map_name"),
    "8m": ("smax", "env_args.map_name"),
}
# Per env, settings every algorithm gets: LBF's fixed entity slots, which a world model can predict (the
# baselines read the same observations).
ENV_SETTINGS = {"lbf": ["env_args.obs_encoding=presence"], "smax": []}
ALGS = ["salemb", "qmix", "vdn"]
METHOD, BASELINE = "salemb", "qmix"
GOAL_RATIO, GOAL_TASKS, GOAL_APART = 1.25, 4, 2
RECORD_FIELDS = ["task", "alg", "seed", "t_max", "experiment", "auc", "final", "minutes"]


def common_settings(t_max: int) -> list[str]:
    test_interval = max(1000, t_max // 40)
    return [
        f"t_max={t_max}", "runner=parallel", "batch_size_run=4", f"test_interval={test_interval}", "test_nepisode=32",
        f"log_interval={4 * test_interval}", f"runner_log_interval={4 * test_interval}",
        f"learner_log_interval={4 * test_interval}", "save_model=True", f"save_model_interval={t_max // 5}",
        "use_tensorboard=False",
    ]


def parse_alg(spec: str) -> tuple[str, str, list[str]]:
    """`qmix` -> (qmix, qmix, []); `label=config:k=v,k=v` -> (label, config, [name=label, k=v, k=v])."""
    if "=" not in spec.split(":")[0]:
        return spec, spec, []
    label, rest = spec.split("=", 1)
    config, _, overrides = rest.partition(":")
    if not label or not config:
        raise SystemExit(f"--algs {spec!r}: a variant is label=config:key=value,..., e.g. qmix_control=qmix:updates_per_env_step=0.02")
    return label, config, [f"name={label}", *[kv for kv in overrides.split(",") if kv]]


def is_variant(spec: str) -> bool:
    """`label=config[:...]` where config is a file in src/config/algs (otherwise it is a key=value override)."""
    config = spec.split("=", 1)[1].split(":", 1)[0]
    return (ROOT / "src" / "config" / "algs" / f"{config}.yaml").exists()


def fingerprint(config: dict) -> str:
    """A short hash of the experiment a config defines (equal for its seeds)."""
    return hashlib.sha1(experiment_id(config).encode()).hexdigest()[:10]


def stored_config(config: dict) -> dict:
    """The flat config as the configs file keeps it (JSON values; anything else as its string)."""
    return json.loads(json.dumps(flat_experiment_config(config), default=str))


def grid_point(spec: str, task: str, t_max: int, extra: list[str], cache: ConfigCache) -> tuple[str, str, list[str], dict]:
    """An algorithm spec on a task: (label, alg config, the run's settings, its expected config (seed 1;
    the fingerprint is the same for every seed))."""
    label, config, overrides = parse_alg(spec)
    env, key = TASKS[task]
    settings = [*common_settings(t_max), *ENV_SETTINGS[env], *overrides, *extra]
    return label, config, settings, cache.expected(expand([config], [env], [f"{key}={task}"], [1], settings)[0])


def env_defaults(env: str, expected: dict) -> dict:
    """The value a key takes when no algorithm sets it, flattened: default.yaml under envs/<env>.yaml, and
    the declared keys of the components that the `expected` run selects."""
    declared = {k: d.default for k, d in declared_keys(expected).items()}
    return flat_experiment_config(recursive_update(load_default(), {**declared, **load_yaml("envs", env, "--env-config")}))


def same_experiment(recorded: dict, expected: dict, defaults: dict, unread: frozenset[str] = frozenset()) -> bool:
    """Whether a recorded run's flat config defines the `expected` experiment: every key the two share
    has one value, and a key the record lacks was added to the code since, and the expected run leaves
    it at its default (`defaults`, from env_defaults). This leans on the project's rule that a new key's
    default keeps the old numbers. A key the record has and the expected run lacks is a difference, unless
    it is in `unread`: declared by a component the expected run does not select (before components declared
    their keys, every run carried every key)."""
    for key, value in expected.items():
        if key in recorded:
            if recorded[key] != value:
                return False
        elif key not in defaults or defaults[key] != value:
            return False
    return set(recorded) <= set(expected) | unread


def rekey(rows: list[dict[str, str]], configs: dict[str, dict], task: str, label: str, expected: dict, defaults: dict) -> None:
    """Move `label`'s rows on `task` whose experiment is the expected one (same_experiment) onto its
    current fingerprint, in place (a seed already recorded under it keeps that row, the other stays apart),
    and keep its flat config in `configs` under that fingerprint."""
    flat = stored_config(expected)
    unread = frozenset(k.name for k in all_declared_keys()) - set(flat)
    current = fingerprint(expected)
    configs[current] = flat
    mine = [r for r in rows if (r["task"], r["alg"]) == (task, label)]
    seeds_at_current = {r["seed"] for r in mine if r["experiment"] == current}
    for row in mine:
        if row["experiment"] != current and row["seed"] not in seeds_at_current and row["experiment"] in configs:
            if same_experiment(configs[row["experiment"]], flat, defaults, unread):
                row["experiment"] = current
                seeds_at_current.add(row["seed"])


def run_grid(algs: list[str], tasks: list[str], seeds: int, jobs: int, out: Path, t_max: int, extra: list[str],
             recorded: set[tuple[str, str, int, str]] | None = None, after_sweep: Callable[[], object] | None = None) -> int:
    """One sweep per (algorithm, task) over the seeds not in `recorded` ((task, label, seed, fingerprint)
    of runs already kept), calling `after_sweep` after each (so a finished sweep's runs are recorded
    before the next starts); returns the worst exit code (an interrupted sweep stops the grid)."""
    cache = ConfigCache()

    def sweeps() -> Iterator[tuple[str, list[str]]]:
        for spec in algs:
            for task in tasks:
                label, config, settings, expected = grid_point(spec, task, t_max, extra, cache)
                experiment = fingerprint(expected)
                todo = [s for s in range(1, seeds + 1) if (task, label, s, experiment) not in (recorded or set())]
                if todo:
                    env, key = TASKS[task]
                    yield f"{label} on {task}, seeds {todo}", [
                        "--configs", config, "--env-config", env, "--set", f"{key}={task}", "--seed-list", *map(str, todo),
                        "--jobs", str(jobs), "--out", str(out), *settings]

    return run_sweeps(sweeps(), after_sweep)


def configs_path(record: Path) -> Path:
    """Where the record's experiments' flat configs are kept: beside it, `<record>.configs.json`."""
    return record.with_suffix(".configs.json")


def read_configs(record: Path) -> dict[str, dict]:
    path = configs_path(record)
    return json.loads(path.read_text()) if path.exists() else {}


def write_configs(record: Path, configs: dict[str, dict], rows: list[dict[str, str]]) -> None:
    """Keep the configs of the experiments that have rows in the record, and no others."""
    used = {r["experiment"] for r in rows}
    configs = {k: v for k, v in configs.items() if k in used}
    path = configs_path(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(configs, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_record(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_record(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["task"], r["alg"], int(r["t_max"]), r["experiment"], int(r["seed"])))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def wall_minutes(run_dir: Path) -> float:
    """Start to stop of a run, from its run.json (NaN when either is missing)."""
    return wall_seconds(json.loads((run_dir / "run.json").read_text())) / 60


def record_runs(out: Path, tasks: list[str], t_max: int, record: Path) -> list[dict[str, str]]:
    """Add the completed runs under `out` (if any) to the record file, and their flat configs to its
    configs file; returns the record's rows."""
    rows = {(r["task"], r["alg"], r["seed"], r["experiment"]): r for r in read_record(record)}
    configs = read_configs(record)
    if out.exists():
        try:
            groups = load_groups(out, "test_return_mean")
        except ValueError:
            groups = None
        if groups is not None:
            report(groups)
            for (task, label), curves in groups.curves.items():
                for c in curves:
                    if task not in tasks or c.run.config.get("t_max") != t_max:
                        continue
                    row = {"task": task, "alg": label, "seed": str(c.run.seed), "t_max": str(t_max),
                           "experiment": fingerprint(c.run.config), "auc": f"{area_under_curve(c.steps, c.values):.5f}", "final": f"{c.values[-1]:.5f}",
                           "minutes": f"{wall_minutes(c.run.path):.2f}"}
                    rows[(row["task"], row["alg"], row["seed"], row["experiment"])] = row
                    configs[row["experiment"]] = stored_config(c.run.config)
    write_configs(record, configs, list(rows.values()))
    write_record(record, list(rows.values()))
    return list(rows.values())


def scores(rows: list[dict[str, str]], tasks: list[str], t_max: int, labels: list[str] | None = None) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """{(task, label): {"auc": per-seed AUCs, "final": per-seed finals}} of the recorded runs at `t_max`
    (of `labels` only, when given); a label recorded with several experiments on a task becomes
    `label #fingerprint`, one per experiment."""
    kept = [r for r in rows if r["task"] in tasks and int(r["t_max"]) == t_max and (labels is None or r["alg"] in labels)]
    experiments: dict[tuple[str, str], set[str]] = {}
    for r in kept:
        experiments.setdefault((r["task"], r["alg"]), set()).add(r["experiment"])
    table: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in kept:
        several = len(experiments[(r["task"], r["alg"])]) > 1
        label = f"{r['alg']} #{r['experiment']}" if several else r["alg"]
        entry = table.setdefault((r["task"], label), {"auc": [], "final": []})
        entry["auc"].append(float(r["auc"]))
        entry["final"].append(float(r["final"]))
    return {k: {m: np.array(v) for m, v in d.items()} for k, d in table.items()}


def interval(x: np.ndarray) -> tuple[float, float, float]:
    low, high = stratified_bootstrap_ci([x], iqm)
    return float(iqm(x)), float(low), float(high)


def print_report(table: dict[tuple[str, str], dict[str, np.ndarray]], tasks: list[str], method: str = METHOD) -> None:
    print("\n| task | algorithm | seeds | IQM AUC [95% CI] | IQM final [95% CI] |\n|---|---|---:|---:|---:|")
    summary = {}
    for task in tasks:
        labels = sorted(label for t, label in table if t == task)
        for label in labels:
            s = table[(task, label)]
            a, f = interval(s["auc"]), interval(s["final"])
            summary[(task, label)] = a
            print(f"| {task} | {label} | {len(s['auc'])} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] | {f[0]:.3f} [{f[1]:.3f}, {f[2]:.3f}] |")
    print(f"\n| task | {method} / {BASELINE} IQM AUC | above every other | {method}'s interval above {BASELINE}'s |\n|---|---:|---|---|")
    met = apart = 0
    for task in tasks:
        mine, base = summary.get((task, method)), summary.get((task, BASELINE))
        if mine is None or base is None:
            print(f"| {task} | - | - | - |")
            continue
        others = [v[0] for (t, label), v in summary.items() if t == task and label != method]
        ratio = mine[0] / base[0] if base[0] > 0 else float("nan")
        above = all(mine[0] > o for o in others)
        is_apart = mine[1] > base[2]
        met += int(ratio >= GOAL_RATIO and above)
        apart += int(is_apart)
        print(f"| {task} | {ratio:.2f} | {'yes' if above else 'no'} | {'yes' if is_apart else 'no'} |")
    print(f"\ngoal: ratio >= {GOAL_RATIO} and above the others on >= {GOAL_TASKS} tasks (now {met}), "
          f"intervals apart on >= {GOAL_APART} (now {apart}): {'met' if met >= GOAL_TASKS and apart >= GOAL_APART else 'not met'}")


def adopt(rows: list[dict[str, str]], configs: dict[str, dict], task: str, source: str, spec: str, t_max: int,
          extra: list[str], cache: ConfigCache) -> int:
    """Relabel `source`'s rows on `task` whose recorded config is the experiment of `spec` but for its
    name (a variant that became a default, or a default kept as a variant) as `spec`'s runs, in place;
    returns how many moved. A seed `spec` already has keeps its own row."""
    label, _, _, expected = grid_point(spec, task, t_max, extra, cache)
    flat, current = stored_config(expected), fingerprint(expected)
    taken = {r["seed"] for r in rows if (r["task"], r["alg"], r["experiment"]) == (task, label, current)}
    moved = 0
    for row in rows:
        recorded = configs.get(row["experiment"])
        if (row["task"], row["alg"]) != (task, source) or recorded is None or row["seed"] in taken:
            continue
        if {**recorded, "name": flat["name"]} == flat:
            row["alg"], row["experiment"] = label, current
            taken.add(row["seed"])
            moved += 1
    if moved:
        configs[current] = flat
    return moved


def run_missing(args: argparse.Namespace) -> tuple[list[dict[str, str]], int]:
    """Record the completed runs under `args.out`, move rows recorded before a new key onto today's
    fingerprint (`rekey`), and unless `args.report_only` run the seeds of `args.algs` x `args.tasks` not
    yet recorded; returns the record's rows and the grid's worst exit code."""
    rows = record_runs(args.out, args.tasks, args.t_max, args.record)
    configs = read_configs(args.record)
    cache = ConfigCache()
    for item in args.adopt:
        source, spec = item.split("=", 1)
        for task in args.tasks:
            moved = adopt(rows, configs, task, source, spec, args.t_max, args.extra, cache)
            if moved:
                print(f"{task}: {moved} run(s) of {source} are {parse_alg(spec)[0]}'s (the same config but its name)", file=sys.stderr)
    for spec in args.algs:
        for task in args.tasks:
            label, _, _, expected = grid_point(spec, task, args.t_max, args.extra, cache)
            rekey(rows, configs, task, label, expected, env_defaults(TASKS[task][0], expected))
    write_configs(args.record, configs, rows)
    write_record(args.record, rows)
    if args.report_only:
        return rows, 0
    recorded = {(r["task"], r["alg"], int(r["seed"]), r["experiment"]) for r in rows}
    code = run_grid(args.algs, args.tasks, args.seeds, args.jobs, args.out, args.t_max, args.extra, recorded,
                    after_sweep=lambda: record_runs(args.out, args.tasks, args.t_max, args.record))
    return read_record(args.record), code  # each sweep was recorded as it ended


def add_run_arguments(parser: argparse.ArgumentParser, seeds: int) -> None:
    """The options the comparison and its ablations share."""
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--t-max", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "method_comparison")
    parser.add_argument("--record", type=Path, default=ROOT / "docs" / "data" / "method_comparison_runs.csv",
                        help="the committed record of completed runs' scores")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--adopt", nargs="+", metavar="LABEL=SPEC", default=[],
                        help="record rows of LABEL whose config is SPEC's but for the name become SPEC's runs, "
                             "e.g. when a variant's settings became salemb's defaults: r32=salemb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algs", nargs="+", default=ALGS, help="config names, or label=config:key=value,... variants")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--method", default=METHOD, help="the label whose AUC the verdict compares with QMIX's and the rest")
    add_run_arguments(parser, seeds=5)
    parser.add_argument("extra", nargs="*", help="key=value overrides for every run")
    args = parser.parse_args(argv)
    # `--algs qmix t_max=1` would hand t_max=1 to --algs: an item whose value names no alg config is an override
    overrides = [a for a in args.algs if "=" in a and not is_variant(a)]
    args.algs = [a for a in args.algs if a not in overrides]
    args.extra = overrides + args.extra
    rows, code = run_missing(args)
    labels = [parse_alg(spec)[0] for spec in args.algs]  # the verdict weighs the algorithms asked for, not every variant in the record
    print_report(scores(rows, args.tasks, args.t_max, labels), args.tasks, args.method)
    return code


if __name__ == "__main__":
    sys.exit(main())
