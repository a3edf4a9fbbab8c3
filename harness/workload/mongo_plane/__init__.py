"""The platform's MongoDB data paths: event ingestion, the audit chain, queries, rollups, final reads."""
