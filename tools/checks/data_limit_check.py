"""Is a baseline data-limited at the method comparison's budget? What a perfect world model could add.

    python -m tools.checks.data_limit_check --task Foraging-8x8-2p-3f-v3 --factors 1 2 --seeds 3 --jobs 1

A world model's imagined transitions are at best as good as real ones. So run the baseline (`--alg`,
qmix) with k times the real data for the same learner updates: k x the episodes per collection
(`batch_size_run`), k x `t_max`, and every schedule counted in env steps or episodes stretched by k
(`epsilon_anneal_time`, `target_update_interval`, the test and checkpoint intervals), so that update n of
every factor sees the same exploration rate and the same target-network age. Test curves are compared on
the update axis: AUC (the curve's average height, which does not depend on the x scale) and the final
test return, IQM over seeds with 95% stratified-bootstrap intervals. If k = 2 does not beat k = 1, the
baseline is not short of data at this budget, and imagination that adds data (the model-based part of
salemb) has nothing to add; the learner's updates, targets or exploration bound it instead.

Factor 1 is exactly the comparison's baseline run (same settings, same fingerprint), so it shares the
comparison's record (`--record`, docs/data/method_comparison_runs.csv), where its seeds may already be;
the other factors' rows go there too under their own t_max and label (`qmix_x2`), which the comparison
never reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools import ROOT
from tools.checks.method_comparison import (
    TASKS,
    grid_point,
    interval,
    read_record,
    record_runs,
    run_grid,
    scores,
)
from tools.sweep.grid import ConfigCache

BASE_T_MAX = 100_000


def factor_spec(alg: str, task: str, factor: int) -> str:
    """The variant spec of `alg` with `factor` x the data per update (module docstring); `alg` itself at 1."""
    if factor == 1:
        return alg
    base = grid_point(alg, task, BASE_T_MAX, [], ConfigCache())[3]
    if base.get("target_update_mode", "hard") != "hard":
        raise SystemExit(f"data_limit_check stretches a hard target_update_interval; {alg} has target_update_mode={base['target_update_mode']!r}")
    stretched = {
        "batch_size_run": base["batch_size_run"] * factor,
        "epsilon_anneal_time": base["epsilon_anneal_time"] * factor,
        "target_update_interval": base["target_update_interval"] * factor,
    }
    return f"{alg}_x{factor}={alg}:" + ",".join(f"{k}={v}" for k, v in stretched.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alg", default="qmix")
    parser.add_argument("--task", default="Foraging-8x8-2p-3f-v3", choices=list(TASKS))
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "method_comparison")
    parser.add_argument("--record", type=Path, default=ROOT / "docs" / "data" / "method_comparison_runs.csv")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if any(f < 1 for f in args.factors):
        raise SystemExit(f"--factors must be whole numbers >= 1, got {args.factors}")
    code = 0
    for factor in args.factors:
        t_max = BASE_T_MAX * factor
        record_runs(args.out, [args.task], t_max, args.record)
        if not args.report_only:
            recorded = {(r["task"], r["alg"], int(r["seed"]), r["experiment"]) for r in read_record(args.record)}
            spec = factor_spec(args.alg, args.task, factor)
            code = max(code, run_grid([spec], [args.task], args.seeds, args.jobs, args.out, t_max, [], recorded))
            record_runs(args.out, [args.task], t_max, args.record)
    rows = read_record(args.record)
    print(f"\n{args.alg} on {args.task}, k x the data per update (IQM over seeds, 95% CIs; AUC on the update axis)\n")
    print("| k | label | seeds | IQM AUC [95% CI] | IQM final [95% CI] | AUC / k = 1 |")
    print("|---:|---|---:|---:|---:|---:|")
    first = None
    for factor in args.factors:
        label = args.alg if factor == 1 else f"{args.alg}_x{factor}"
        table = scores(rows, [args.task], BASE_T_MAX * factor)
        found = [k for k in table if k[1] == label or k[1].startswith(label + " #")]
        for key in found:
            auc, final = interval(table[key]["auc"]), interval(table[key]["final"])
            first = auc[0] if first is None and factor == 1 else first
            ratio = f"{auc[0] / first:.2f}" if first else "-"
            print(f"| {factor} | {key[1]} | {len(table[key]['auc'])} | {auc[0]:.3f} [{auc[1]:.3f}, {auc[2]:.3f}] | "
                  f"{final[0]:.3f} [{final[1]:.3f}, {final[2]:.3f}] | {ratio} |")
    return code


if __name__ == "__main__":
    sys.exit(main())
