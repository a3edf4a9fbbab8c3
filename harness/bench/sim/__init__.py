"""One simulated platform, behaving correctly, and the histories a workload records against it.

Each module models one part of the platform (its server-side state and the ops a client records
against it), driven by explicit choices: when an op runs, its outcome, whether an op of unknown
outcome took effect, how late the TTL monitor passes. Two kinds of driver make those choices:

* the checker benchmark (:mod:`harness.bench.history`) draws them from seeded random generators,
  one discrete-event simulation of the whole platform (each module's ``*Traffic`` class);
* the detection matrix (``tests/quality/cases/_sim*.py``) takes them from hypothesis steps, so a
  failing history shrinks, and injects anomalies into the clean histories it gets back.

Parts: :mod:`.core` (records, time, sinks, the clock), :mod:`.ingestion` (rate limiter, idempotent
inserts, counters), :mod:`.versions` (versioned profiles read through sessions), :mod:`.tenants`
(tenant-tagged queries), :mod:`.audit` (hash-chained audit logs), :mod:`.retention` (TTL'd documents
and keys), :mod:`.sessions` (sliding-TTL sessions), :mod:`.hll` (unique users), :mod:`.registers`
(linearizable registers), :mod:`.platform` (the benchmark's scaled parameters and shared context).
"""
