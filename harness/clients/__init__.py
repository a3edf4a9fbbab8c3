"""Clients the platform workload uses, and the mapping of client errors to op outcomes."""
