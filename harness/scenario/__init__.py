"""Scenarios: spec files, validation before anything starts, and the run lifecycle."""
