"""The nightly: every scenario of a suite in sequence, one summary across them, and the history of
their key figures with a noise band learned from past nightlies (the run layer, above scenario)."""

from harness.nightly.baselines import Baselines, append_history, judge, learn_band, read_history
from harness.nightly.figures import figures_of
from harness.nightly.runner import NightlyOptions, run_nightly
from harness.nightly.suites import load_suites, resolve

__all__ = [
    "Baselines",
    "NightlyOptions",
    "append_history",
    "figures_of",
    "judge",
    "learn_band",
    "load_suites",
    "read_history",
    "resolve",
    "run_nightly",
]
