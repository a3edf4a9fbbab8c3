"""Pure computations over saved data: per-node load, latency percentiles, throughput series."""
