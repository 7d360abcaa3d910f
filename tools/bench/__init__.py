"""Benchmarks: where a training run's time goes (speed.py), and the crash check that SIGKILLs a run and
resumes it (chaos.py)."""
