"""Reading sacred run folders back (results_io.py), grouping runs into experiments (results_groups.py),
statistics over seeds (results_stats.py), learning curves (plot.py), comparison tables (compare.py), and the
step-by-step comparison of two runs' metrics (metrics_diff.py)."""
