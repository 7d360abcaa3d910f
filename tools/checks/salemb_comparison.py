"""salemb against QMIX and VDN on LBF at a low budget: the same tasks, seeds and env-step budget for all.

    python -m tools.checks.salemb_comparison                          # 3 tasks x 3 algs x 3 seeds, 200k steps
    python -m tools.checks.salemb_comparison --tasks Foraging-8x8-2p-3f-v3 --seeds 1 --t-max 50000
    python -m tools.checks.salemb_comparison --report-only --out results/salemb_comparison

Prints per task and algorithm the per-seed and mean final test return, the area under the test-return
curve (its average height), and wall-clock seconds per 10k env steps; then, per task, whether salemb's
mean final return is above QMIX's and VDN's and its wall-clock ratio to QMIX (the goal: below 2); then,
per salemb run, what its logs say about why: how often the imagination gate was open, the world
model's observation error against copy-last's, and the spread of the SALE state embedding.
Extra `key=value` arguments go to every run. The runs go through the sweep; started again with the same
--out, it skips the runs that completed there (an interrupted comparison goes on where it stopped).
"""

from __future__ import annotations

import sys
from pathlib import Path
from statistics import median
from typing import Any

from tools.checks.runs import collect, completed_metrics, grid_parser, lbf_sweep, mean, print_table
from tools.sweep.cli import run_sweeps

TASKS = ["Foraging-8x8-2p-3f-v3", "Foraging-10x10-3p-3f-v3", "Foraging-8x8-2p-2f-coop-v3"]
ALGS = ["salemb", "qmix", "vdn"]


def verdicts(rows: dict[tuple[str, str], list[dict]]) -> None:
    """Per task, salemb's mean final against QMIX's and VDN's; '-' where an algorithm has no completed run."""
    def fmt(value: float | None, width: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"

    print("\ntask                       salemb final  qmix final  vdn final  above both  wall salemb/qmix")
    for task in sorted({t for _, t in rows}):
        done = {alg: rows[(alg, task)] for alg in ALGS if rows.get((alg, task))}
        finals = {alg: mean([r["final"] for r in runs]) for alg, runs in done.items()}
        walls = {alg: mean([r["wall_10k"] for r in runs]) for alg, runs in done.items()}
        above = "-" if len(finals) < len(ALGS) else ("yes" if finals["salemb"] > max(finals["qmix"], finals["vdn"]) else "no")
        ratio = walls["salemb"] / walls["qmix"] if {"salemb", "qmix"} <= set(walls) else None
        print(f"{task:<26} {fmt(finals.get('salemb'), 12)} {fmt(finals.get('qmix'), 11)} {fmt(finals.get('vdn'), 10)} "
              f"{above:>11} {fmt(ratio, 16)}")


def _values(metrics: dict[str, Any], key: str) -> list[float]:
    return metrics.get(key, {"values": []})["values"]


def salemb_diagnostics(out: Path, alg: str = "salemb") -> list[dict[str, Any]]:
    """Per completed `alg` run (sorted by task, seed): the fraction of world-model checks at which the
    imagination gate was open (None without the gate), the median over checks of the model's 3-step
    observation error divided by copy-last's (< 1: the model predicts better), and the SALE state
    embedding's spread (`sale_zs_spread`) at its first and last log (near 0: collapsed)."""
    rows = []
    for run, metrics in completed_metrics(out):
        if run.alg != alg:
            continue
        gate = _values(metrics, "imagine_gate_open")
        pairs = zip(_values(metrics, "wm_eval_obs_mse"), _values(metrics, "wm_eval_obs_mse_copy_last"))
        ratios = [m / c for m, c in pairs if c > 0]
        spread = _values(metrics, "sale_zs_spread")
        rows.append({
            "task": run.task, "seed": run.seed,
            "gate_open": sum(gate) / len(gate) if gate else None,
            "obs_error_ratio": median(ratios) if ratios else None,
            "spread_first": spread[0] if spread else None, "spread_last": spread[-1] if spread else None,
        })
    return sorted(rows, key=lambda r: (r["task"], r["seed"]))


def print_diagnostics(rows: list[dict[str, Any]]) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    print("\nsalemb run                       seed  gate open  model/copy-last obs error  z_s spread first -> last")
    for r in rows:
        print(f"{r['task']:<32} {r['seed']:>4} {fmt(r['gate_open']):>10} {fmt(r['obs_error_ratio']):>26} "
              f"{fmt(r['spread_first']):>12} -> {fmt(r['spread_last'])}")


def main(argv: list[str] | None = None) -> int:
    """Run what is missing of the grid (unless --report-only), print the tables; returns the sweep's exit code."""
    parser = grid_parser(__doc__, ALGS, TASKS, "salemb_comparison")
    parser.add_argument("--t-max", type=int, default=200_000)
    args = parser.parse_args(argv)
    code = 0
    if not args.report_only:
        sweep = lbf_sweep(args.algs, args.tasks, args.seeds, args.t_max, args.jobs, args.out, args.extra)
        code = run_sweeps([(f"{', '.join(args.tasks)}, {args.t_max} env steps", sweep)])
    rows = collect(args.out)
    print_table(rows)
    verdicts(rows)
    print_diagnostics(salemb_diagnostics(args.out))
    return code


if __name__ == "__main__":
    sys.exit(main())
