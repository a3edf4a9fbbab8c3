"""Figures computed from ops and server counters, with no I/O of their own: folds over a history's ops
(event latency and throughput, per-fault recovery, per-op HdrHistograms; fed the streamed history
while judging), per-master load from ``INFO commandstats`` samples, and the HdrHistograms the drivers
record into live during a run (:class:`harness.metrics.hdr.LatencyHistograms`: stateful, thread
safe)."""
