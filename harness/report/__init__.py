"""Offline reports for a run directory: a self-contained index.html, junit.xml, and a runs index."""

from harness.report.junit import write_junit
from harness.report.render import render_index, render_run

__all__ = ["render_index", "render_run", "write_junit"]
