"""``harness capacity``: a stepped open-loop search for each plane's knee, per-event figures from
the servers' own statistics, and the extrapolation to the capstone's numbers."""
