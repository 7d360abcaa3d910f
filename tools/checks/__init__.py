"""The project's learning checks and experiments: the baselines' learning check, salemb's comparisons and
ablations, the data-limit check, the MaMuJoCo check (grids of training runs, with tables read back from
their sacred folders) and the world model's fit on fixed data. runs.py holds what the grids share."""
