"""Grids of training runs (`python -m tools.sweep`): the grid (grid.py), what is left to do in an output
folder (state.py), running the runs on this machine (execute.py) or as Ray tasks (ray_backend.py), the
progress display (progress.py) and the command line (cli.py)."""
