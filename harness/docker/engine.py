"""Connecting to the Docker engine, through the ``docker`` SDK.

Why the SDK and not the ``docker`` CLI: it is already a dependency (the Docker backend drives the
engine through it), it negotiates the API version with the engine itself, so nothing depends on which
``docker`` client is first on PATH (here ``/usr/local/bin/docker`` is 28.2, API 1.50, in front of the
20.10 engine, API 1.41; that client negotiates down too, but the SDK needs no client at all), its
errors are exceptions rather than text to parse, and an image's root filesystem is streamed to the
engine from Python without a shell pipeline.
"""

from __future__ import annotations

from typing import Any

from harness.doctor import docker_unreachable_reason
from harness.errors import HarnessError

#: Every image, container or network the harness makes carries this label (value "1" for images).
IMAGE_LABEL = "harness.image"


class EngineUnavailable(HarnessError):
    """No Docker engine answers; the message says why and how to start one."""


def connect(timeout_s: int = 120) -> Any:
    """A ``docker.DockerClient`` that has answered a ping, or :class:`EngineUnavailable`.

    ``timeout_s`` bounds each API call (an import of a large image is a single call)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout_s)
        client.ping()
    except Exception as exc:
        raise EngineUnavailable(f"docker engine not reachable: {docker_unreachable_reason(exc)}") from exc
    return client
