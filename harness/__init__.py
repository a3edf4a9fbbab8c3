"""Chaos and benchmark test harness for a multi-tenant event logging platform."""

__version__ = "0.1.0"
