"""The worker's pipeline: attempt, stage, run, collect, score, persist; and the phase analysis."""
