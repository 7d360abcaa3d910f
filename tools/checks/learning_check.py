"""Core learning check: QMIX, VDN and IQL, several seeds, on two LBF tasks; prints final/best test return.

    python -m tools.checks.learning_check                       # the full check (3 seeds; 50k and 400k steps)
    python -m tools.checks.learning_check --scale 0.1 --jobs 2  # a quicker look at a tenth of the budget
    python -m tools.checks.learning_check --report-only         # re-print the table from an existing folder

Every run uses the parallel runner with 4 episodes per batch (PyMARL2's one update per batch of episodes;
with the episode runner, one update per 3-step episode makes 5x5 update-bound), and the 50k-step 5x5
task anneals epsilon over 20k steps, so the budget is not spent mostly exploring: the settings the
check was first passed with. Extra `key=value` arguments go to every run after these and override
them. The runs go through the sweep, one per task, so started again with the same --out the check skips
the runs that completed there. The table gives per seed the final, best and average (AUC) test return,
steps/s and wall-clock seconds per 10k steps.
"""

from __future__ import annotations

import sys

from tools.checks.runs import collect, grid_parser, lbf_sweep, print_table
from tools.sweep.cli import run_sweeps

TASKS = {"Foraging-5x5-2p-1f-v3": 50_000, "Foraging-8x8-2p-3f-v3": 400_000}
CHECK_SETTINGS = ["runner=parallel", "batch_size_run=4"]
TASK_SETTINGS = {"Foraging-5x5-2p-1f-v3": ["epsilon_anneal_time=20000"]}
GOALS = {("qmix", "Foraging-5x5-2p-1f-v3"): 0.95, ("qmix", "Foraging-8x8-2p-3f-v3"): 0.8}


def main(argv: list[str] | None = None) -> int:
    """Run what is missing of the grid (unless --report-only), print the table; returns the sweeps' worst
    exit code."""
    parser = grid_parser(__doc__, ["qmix", "vdn", "iql"], list(TASKS), "learning_check")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every task's env-step budget")
    args = parser.parse_args(argv)
    code = 0
    if not args.report_only:
        sweeps = []
        for task in args.tasks:
            t_max = int(TASKS.get(task, 100_000) * args.scale)
            overrides = [*CHECK_SETTINGS, *TASK_SETTINGS.get(task, []), *args.extra]
            sweeps.append((f"{task}, {t_max} env steps",
                           lbf_sweep(args.algs, [task], args.seeds, t_max, args.jobs, args.out, overrides)))
        code = run_sweeps(sweeps)
    print_table(collect(args.out), GOALS)
    return code


if __name__ == "__main__":
    sys.exit(main())
