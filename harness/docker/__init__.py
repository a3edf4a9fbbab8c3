"""The Docker engine and the images the Docker backend runs: connecting with a clear error, the
pinned official images, and local images built from this machine's own binaries (no registry)."""
