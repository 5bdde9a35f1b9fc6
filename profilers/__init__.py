"""Counting and measuring: analytic counts from configs; latency, power, energy and memory of models."""
