"""The platform's Redis data paths: limiter and counters, increments, sessions, ingestion, reads, cache."""
