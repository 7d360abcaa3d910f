"""tools/checks/salemb_ablations.py: every ablation changes salemb in what it says, and the table reads the record."""

from __future__ import annotations

import pytest

from tools.checks import method_comparison as mc
from tools.checks import salemb_ablations as ab
from tools.sweep.grid import ConfigCache
from utils.registries import owners

TASK = "Foraging-8x8-2p-3f-v3"
# what each ablation must change in salemb's run config (besides its name)
CHANGES = {
    "salemb_no_imagination": {"use_world_model": False},
    "salemb_sale_agents": {"agent": "sale_rnn"},
    "salemb_no_wm_sale": {"wm_use_sale": False},
    "wm_on_q_batches": {"wm_train_ratio": 0.0},
    "recurrent_wm": {"world_model": "vae"},
    "no_change_gate": {"wm_change_gate": False},
    "episode_starts": {"imagine_start_sampling": "episode", "imagine_batch_size": 32},
    "batch_weighting": {"imagine_weighting": "batch", "imagine_coef": 0.5},
    "no_gate": {"imagine_gate": False},
    "gate_at_copy_last": {"imagine_gate_margin": 0.0},
}


def test_each_ablation_changes_salemb_in_its_keys_only() -> None:
    cache = ConfigCache()
    method = mc.stored_config(mc.grid_point("salemb", TASK, 100_000, [], cache)[3])
    labels = []
    for spec in ab.ABLATIONS:
        label, _, _, expected = mc.grid_point(spec, TASK, 100_000, [], cache)
        labels.append(label)
        if label in ("salemb", "qmix"):
            continue
        config = mc.stored_config(expected)
        changed = {k: config[k] for k in set(config) & set(method) if config[k] != method[k] and k != "name"}
        assert changed == CHANGES[label], label
        # keys in one config only are those of a part the other does not build (another agent or world model)
        assert all(owners(k) for k in set(config) ^ set(method)), label
    assert sorted(labels) == sorted(["salemb", "qmix", *CHANGES])


def test_the_table_gives_each_ablation_over_salemb(tmp_path, capsys) -> None:
    record = tmp_path / "runs.csv"
    row = {"task": TASK, "t_max": "100000", "final": "0.5", "minutes": "1.0"}
    rows = [{**row, "alg": alg, "seed": str(s), "experiment": alg[:3], "auc": str(auc + 0.01 * s)}
            for alg, auc in (("salemb", 0.5), ("no_gate", 0.25), ("img2k", 0.9)) for s in range(1, 6)]
    mc.write_record(record, rows)
    assert ab.main(["--report-only", "--record", str(record), "--out", str(tmp_path / "none"), "--tasks", TASK]) == 0
    out = capsys.readouterr().out
    assert f"| {TASK} | no_gate | imagined TD from imagine_start on" in out and "| 0.53 |" in out  # IQM 0.28 over 0.53
    assert f"| {TASK} | salemb |" in out and "| 1.00 |" in out
    assert "img2k" not in out  # variants that are not ablations stay out


def test_an_unknown_ablation_is_named_with_the_choices(capsys) -> None:
    with pytest.raises(SystemExit):
        ab.main(["--only", "no_gat", "--report-only"])
    err = capsys.readouterr().err
    assert "--only no_gat: not an ablation; choose from salemb, qmix," in err
