"""Local images without an engine: the root filesystem (ldd parsing, the file list, the tar), the
images' names and versions, the pinned official images, and the errors a user sees."""

from __future__ import annotations

import io
import shlex
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import doctor
from harness.docker import images
from harness.docker.engine import EngineUnavailable, connect
from harness.docker.rootfs import ETC_FILES, Entry, RootfsError, parse_ldd, rootfs_entries, write_tar
from harness.errors import HarnessError

LDD_REDIS = """\
\tlinux-vdso.so.1 (0x00007ffd5b1f2000)
\tlibatomic.so.1 => /lib/x86_64-linux-gnu/libatomic.so.1 (0x00007fd31d3a5000)
\tlibjemalloc.so.2 => /lib/x86_64-linux-gnu/libjemalloc.so.2 (0x00007fd31cc00000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fd31c41e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fd31d3c3000)
"""


def test_parse_ldd_keeps_every_library_and_the_loader_but_not_the_vdso() -> None:
    assert parse_ldd(LDD_REDIS) == [
        "/lib/x86_64-linux-gnu/libatomic.so.1",
        "/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]
    # an older glibc spells the vDSO with an empty arrow
    assert parse_ldd("\tlinux-vdso.so.1 =>  (0x00007ffc)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)") == [
        "/lib/libc.so.6"
    ]


@pytest.mark.parametrize("output", ["\tnot a dynamic executable", "\tstatically linked", ""])
def test_parse_ldd_of_a_static_binary_is_empty(output: str) -> None:
    assert parse_ldd(output) == []


def test_parse_ldd_names_a_library_it_cannot_find() -> None:
    with pytest.raises(RootfsError, match=r"redis-server needs liblzf\.so\.1, which ldd cannot find"):
        parse_ldd(LDD_REDIS + "\tliblzf.so.1 => not found\n", "redis-server")


def test_rootfs_entries_parents_first_libraries_once_and_the_etc_files() -> None:
    entries = rootfs_entries(
        [
            ("/usr/bin/redis-server", "/usr/local/bin/redis-server"),
            ("/usr/bin/redis-cli", "/usr/local/bin/redis-cli"),
        ],
        ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"],
        dirs=["/data"],
    )
    paths = [e.path for e in entries]
    assert len(paths) == len(set(paths))
    for i, path in enumerate(paths):  # every parent comes before what it holds
        parent = path.rsplit("/", 1)[0]
        assert not parent or parent in paths[:i], path
    dirs = {e.path: e.mode for e in entries if e.is_dir}
    assert dirs == {
        "/data": 0o755,
        "/etc": 0o755,
        "/lib": 0o755,
        "/lib/x86_64-linux-gnu": 0o755,
        "/lib64": 0o755,
        "/root": 0o755,
        "/tmp": 0o1777,
        "/usr": 0o755,
        "/usr/local": 0o755,
        "/usr/local/bin": 0o755,
    }
    files = {e.path: (e.source, e.mode) for e in entries if e.source}
    assert files == {
        "/usr/local/bin/redis-server": ("/usr/bin/redis-server", 0o755),
        "/usr/local/bin/redis-cli": ("/usr/bin/redis-cli", 0o755),
        "/lib/x86_64-linux-gnu/libc.so.6": ("/lib/x86_64-linux-gnu/libc.so.6", 0o755),
        "/lib64/ld-linux-x86-64.so.2": ("/lib64/ld-linux-x86-64.so.2", 0o755),
    }
    assert {e.path: e.data for e in entries if e.data is not None} == ETC_FILES


def test_write_tar_follows_symlinks_and_owns_everything_by_root(tmp_path: Path) -> None:
    real = tmp_path / "libreal.so.1.2"
    real.write_bytes(b"\x7fELF library")
    link = tmp_path / "libreal.so.1"
    link.symlink_to(real.name)
    entries = [
        Entry("/lib", 0o755),
        Entry("/lib/libreal.so.1", 0o755, source=str(link)),
        Entry("/etc/group", 0o644, data=b"root:x:0:\n"),
    ]
    buf = io.BytesIO()
    assert write_tar(entries, buf) == len(b"\x7fELF library") + len(b"root:x:0:\n")
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"lib", "lib/libreal.so.1", "etc/group"}
        lib = members["lib/libreal.so.1"]
        assert lib.isfile() and lib.mode == 0o755 and (lib.uid, lib.gid) == (0, 0)
        assert tar.extractfile(lib).read() == b"\x7fELF library"  # type: ignore[union-attr]
        assert members["lib"].isdir()


# --- names and versions ---------------------------------------------------------------------------


def _exe(directory: Path, name: str, output: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(output)}\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH and the tools dir are one empty folder; the engine is nowhere."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HARNESS_TOOLS_DIR", str(bin_dir))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    monkeypatch.setattr(doctor, "ADMIN_DIRS", ())
    return bin_dir


def _all_binaries(bin_dir: Path) -> None:
    _exe(bin_dir, "redis-server", "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64")
    _exe(bin_dir, "redis-cli", "redis-cli 7.0.15")
    _exe(bin_dir, "toxiproxy-server", "toxiproxy-server version 2.12.0")
    _exe(bin_dir, "ferretdb", "ferretdb v1.24.2 (sqlite handler, embedded)")
    _exe(bin_dir, "sleep", "sleep (GNU coreutils) 9.1")
    _exe(bin_dir, "sh", "")


def test_images_are_tagged_with_their_binaries_versions(machine: Path) -> None:
    _all_binaries(machine)
    plans = images.plan()
    assert [p.tag for p in plans] == [
        "harness/redis:7.0.15",
        "harness/toxiproxy:2.12.0",
        "harness/pause:9.1",
        "harness/ferretdb:1.24.2",
    ]
    redis = plans[0]
    assert redis.binaries == (
        (str(machine / "redis-server"), "/usr/local/bin/redis-server"),
        (str(machine / "redis-cli"), "/usr/local/bin/redis-cli"),
        (str(machine / "sh"), "/bin/sh"),  # the compose export's init scripts need a shell and sleep
        (str(machine / "sleep"), "/bin/sleep"),
    )
    assert len(redis.digest) == 64
    assert [p.tag for p in images.plan(["ferretdb"])] == ["harness/ferretdb:1.24.2"]


def test_images_start_like_the_official_ones_and_carry_labels(machine: Path) -> None:
    _all_binaries(machine)
    by_name = {p.recipe.name: p for p in images.plan()}
    toxi = by_name["toxiproxy"].changes()
    assert toxi[:2] == ['ENTRYPOINT ["/toxiproxy"]', 'CMD ["-host=0.0.0.0"]']  # as ghcr.io/shopify/toxiproxy
    assert 'CMD ["redis-server"]' in by_name["redis"].changes()  # `docker run IMAGE redis-server ...` works
    labels = by_name["ferretdb"].labels()
    assert labels["harness.image"] == "1" and labels["harness.image.version"] == "1.24.2"
    assert "LABEL harness.image.name=ferretdb" in by_name["ferretdb"].changes()


def test_a_missing_binary_is_named_with_make_setup_before_the_engine_is_asked(machine: Path) -> None:
    _exe(machine, "redis-server", "Redis server v=7.0.15 sha=0")
    with pytest.raises(HarnessError) as err:
        images.plan()
    text = str(err.value)
    assert "harness/redis: no redis-cli, sh, sleep on this machine" in text
    assert "harness/toxiproxy: no toxiproxy-server" in text and "harness/ferretdb: no ferretdb" in text
    assert text.endswith("(run 'make setup')")


def test_an_unreadable_version_is_an_error(machine: Path) -> None:
    _exe(machine, "ferretdb", "ferretdb unknown")
    with pytest.raises(HarnessError, match=r"cannot tell the version of .*ferretdb: 'ferretdb unknown"):
        images.plan(["ferretdb"])


def test_pinned_official_images_are_exact_versions_with_a_local_image_each() -> None:
    roles = [p.role for p in images.PINNED]
    assert roles == ["redis", "toxiproxy", "mongo", "ferretdb", "pause"]
    for pin in images.PINNED:
        name, _, version = pin.official.rpartition(":")
        assert name and version[:1].isdigit() and version.count(".") == 2, pin.official
        assert pin.local in {r.repository for r in images.RECIPES.values()}
    assert {p.role: p.official for p in images.PINNED}["toxiproxy"] == "ghcr.io/shopify/toxiproxy:2.12.0"


def test_an_import_error_in_the_reply_is_raised() -> None:
    images._raise_on_error('{"status":"sha256:abc"}\n', "harness/x:1")
    with pytest.raises(HarnessError, match="docker import of harness/x:1 failed: bad tar"):
        images._raise_on_error(
            '{"status":"x"}\n{"errorDetail":{"message":"bad tar"},"error":"bad tar"}\n', "harness/x:1"
        )


# --- the engine and the CLI -----------------------------------------------------------------------


def test_no_engine_says_how_to_start_one(machine: Path) -> None:
    with pytest.raises(EngineUnavailable) as err:
        connect(timeout_s=2)
    assert str(err.value).startswith("docker engine not reachable: no engine installed")
    assert "run 'make setup' as root, or start dockerd" in str(err.value)


def test_cli_images_build_without_engine_or_binaries(machine: Path) -> None:
    from harness.cli import cli

    runner = CliRunner()
    missing = runner.invoke(cli, ["images", "build", "toxiproxy"])
    assert isinstance(missing.exception, HarnessError)
    assert "no toxiproxy-server" in str(missing.exception) and "make setup" in str(missing.exception)
    _all_binaries(machine)
    no_engine = runner.invoke(cli, ["images", "build"])
    assert isinstance(no_engine.exception, EngineUnavailable)
    assert isinstance(runner.invoke(cli, ["images", "list"]).exception, EngineUnavailable)
    assert runner.invoke(cli, ["images", "build", "nginx"]).exit_code == 2  # not one of ours
