"""The platform's data paths, played against the real servers."""
