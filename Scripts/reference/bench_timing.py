"""Timing shared by the reference benchmarks: best wall time of N runs."""
import time


def best(runs, body):
    result = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        body()
        result = min(result, time.perf_counter() - start)
    return result
