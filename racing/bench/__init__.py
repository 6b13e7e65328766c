"""The race-day benchmark: our scheduler against two baseline pollers.

Every strategy replays the same scenario on the same simulated clock; the figures
(calls, coverage, duplicates, lag) are scored against what the scenario says the feed
showed and when. Nothing here imports Prefect: `flows/bench.py` adds the Prefect
measurements and writes the report.
"""
