"""salemb's ablations: what each part of the method, and each piece of its discrete defaults, adds.

    python -m tools.checks.salemb_ablations --seeds 3 --jobs 2     # run what is missing, then the table
    python -m tools.checks.salemb_ablations --report-only          # the table from the record
    python -m tools.checks.salemb_ablations --only salemb salemb_no_wm_sale no_gate

Every ablation is salemb with one thing changed (`ABLATIONS`: a config of its own, or a variant
`label=salemb:key=value,...`), run as the method comparison runs (`python -m tools.checks.method_comparison`:
100k env steps, its settings, its record and fingerprints), so salemb's and QMIX's seeds are shared with
the comparison and every run is kept in docs/data/method_comparison_runs.csv. Tasks: `Foraging-8x8-2p-3f-v3`
and `Foraging-8x8-2p-2f-coop-v3` (`--tasks`; the comparison's five are allowed).

The table, per task and ablation: seeds, IQM AUC and IQM final test return with 95% stratified-bootstrap
intervals, and the ablation's IQM AUC over salemb's (below 1: the part it removes helps).
"""

from __future__ import annotations

import argparse
import sys

from tools.checks.method_comparison import TASKS, add_run_arguments, interval, parse_alg, run_missing, scores

METHOD = "salemb"
ABLATIONS = {
    "salemb": "the method with its discrete defaults",
    "qmix": "the baseline",
    "salemb_no_imagination": "no world model and no imagined TD (QMIX through salemb's learner)",
    "salemb_sale_agents": "SALE in every agent's Q-network (salemb_no_sale is the default's agents)",
    "salemb_no_wm_sale": "a plain joint-action embedding in the world model's transition, not joint SALE",
    "wm_on_q_batches=salemb:wm_train_ratio=0": "no schedule of its own: the world model trains every 2nd update on the Q-learner's batch",
    "recurrent_wm=salemb:world_model=vae": "the recurrent VAE world model instead of the one-step model",
    "no_change_gate=salemb:wm_change_gate=False": "the one-step model regresses every element's change, no change gate",
    "episode_starts=salemb:imagine_start_sampling=episode,imagine_batch_size=32": "32 roll-outs a batch, one from a random step of each episode",
    "batch_weighting=salemb:imagine_weighting=batch,imagine_coef=0.5": "imagined TD as its own mean x 0.5, not pooled per transition",
    "no_gate=salemb:imagine_gate=False": "imagined TD from imagine_start on, whatever the model check says",
    "gate_at_copy_last=salemb:imagine_gate_margin=0.0": "the gate opens as soon as the model beats copy-last (session 12's default), not at 0.7x",
}
TASKS_DEFAULT = ["Foraging-8x8-2p-3f-v3", "Foraging-8x8-2p-2f-coop-v3"]


def print_table(table: dict, tasks: list[str], labels: list[str]) -> None:
    """One row per task and ablation that has runs: seeds, IQM AUC and final with intervals, AUC over salemb's."""
    described = {parse_alg(spec)[0]: what for spec, what in ABLATIONS.items()}
    print("\n| task | ablation | what changes | seeds | IQM AUC [95% CI] | IQM final [95% CI] | AUC / salemb's |\n"
          "|---|---|---|---:|---:|---:|---:|")
    for task in tasks:
        method = interval(table[(task, METHOD)]["auc"])[0] if (task, METHOD) in table else None
        for label in labels:
            if (task, label) not in table:
                continue
            s = table[(task, label)]
            a, f = interval(s["auc"]), interval(s["final"])
            ratio = f"{a[0] / method:.2f}" if method else "-"
            print(f"| {task} | {label} | {described.get(label, '')} | {len(s['auc'])} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] "
                  f"| {f[0]:.3f} [{f[1]:.3f}, {f[2]:.3f}] | {ratio} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=TASKS_DEFAULT, choices=list(TASKS))
    parser.add_argument("--only", nargs="+", metavar="LABEL", help="these ablations only (their labels)")
    add_run_arguments(parser, seeds=3)
    args = parser.parse_args(argv)
    specs = {parse_alg(spec)[0]: spec for spec in ABLATIONS}
    unknown = sorted(set(args.only or []) - set(specs))
    if unknown:
        parser.error(f"--only {' '.join(unknown)}: not an ablation; choose from {', '.join(specs)}")
    args.algs = [specs[label] for label in (args.only or specs)]
    args.extra = []
    rows, code = run_missing(args)
    labels = [parse_alg(spec)[0] for spec in args.algs]
    print_table(scores(rows, args.tasks, args.t_max, labels), args.tasks, labels)
    return code


if __name__ == "__main__":
    sys.exit(main())
