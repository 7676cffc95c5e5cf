"""Benchmarks: each module measures one workload next to a peer measured in the same run."""
