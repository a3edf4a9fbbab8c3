"""Recording and loading operation histories (``history.jsonl``)."""
