"""Stored runs and their analysis: the run store, Pareto fronts, comparison, selection and plots.

Plain data (pandas, numpy, pyarrow, moocore); never imports Ray, Optuna or torch. The run format is in README.md.
"""
