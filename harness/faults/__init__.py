"""Faults (what is done to a topology), schedules (when) and the nemesis (who does it)."""
