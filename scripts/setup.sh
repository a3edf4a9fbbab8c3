#!/usr/bin/env bash
# Prepare a (Debian) machine for the harness.  Run through `make setup`.
#
#   1. .venv with the project installed editable (+ dev extras); pip runs only
#      when pyproject.toml changed (sha256 kept in .venv/.setup-stamp).
#   2. redis-server 7+ and redis-cli        (apt: redis-server redis-tools)
#   3. iptables and ip                      (apt: iptables iproute2); tmux (apt: tmux)
#   4. toxiproxy-server, pinned below, built with `go install` into tools/bin/
#   5. ferretdb (FerretDB, pinned in scripts/ferretdb/go.mod, SQLite handler), built
#      with `go build` into tools/bin/: the MongoDB plane's server where no mongod
#      exists (optional: without it that plane is reported not_run)
#   6. the Docker engine (optional): docker.io (and docker-compose) with apt when missing, and dockerd
#      started in the background when it is not answering (log: /var/log/harness-dockerd.log)
#   7. python -m harness.doctor
#
# As root, missing system packages are installed with apt-get (one
# `apt-get update`, only when something has to be installed).  Without root
# nothing is installed system-wide: the exact commands to run are printed and
# everything else is still done.  Exit status is non-zero only when something
# required (venv, redis-server, toxiproxy-server) is still missing.
# Idempotent: a second run changes nothing and takes a couple of seconds.
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
ACTIONLINT_VERSION=v1.7.12 # lints .github/workflows/nightly.yml in the test suite (it never runs here)
GO_MIN_VERSION=1.23 # toxiproxy v2.12.0's go.mod says "go 1.23.0"
FERRETDB_GO_MIN=1.24 # scripts/ferretdb/go.mod says "go 1.24"
REDIS_MIN_MAJOR=7
PYTHON_MIN=3.11 # pyproject.toml requires-python

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
STAMP="$VENV/.setup-stamp"
TOOLS_BIN="${HARNESS_TOOLS_DIR:-$REPO_ROOT/tools/bin}" # same override as harness.doctor
cd "$REPO_ROOT"

# Two concurrent runs would race on pip and on the toxiproxy build.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi

CHANGES=()  # what this run changed
MISSING=()  # required things still missing at the end
OPTIONAL=() # nice-to-have things still missing
HINTS=()    # commands the user has to run
APT_PKGS=() # packages to install (root) or to tell the user about
APT_UPDATED=0
INSTALLED_REDIS=0
BUILD_TMP=""
trap '[ -n "$BUILD_TMP" ] && rm -rf "$BUILD_TMP"' EXIT

log() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
changed() {
    CHANGES+=("$1")
    log "$1"
}
have() { command -v "$1" >/dev/null 2>&1; }
# iptables and ip live in /usr/sbin, which is not on a normal user's PATH on Debian.
have_admin() { have "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
is_root() { [ "$(id -u)" -eq 0 ]; }
# version_ge A B: true when version A >= version B
version_ge() { printf '%s\n%s\n' "$2" "$1" | sort -V -C; }
add_apt() {
    local p q
    for p in "$@"; do
        for q in "${APT_PKGS[@]}"; do [ "$q" = "$p" ] && continue 2; done
        APT_PKGS+=("$p")
    done
}
# "sudo CMD1 && sudo CMD2" (or "as root: CMD1 && CMD2" when there is no sudo)
as_root() {
    local out="" sep="" c
    for c in "$@"; do
        if ! is_root && have sudo; then out+="${sep}sudo $c"; else out+="${sep}$c"; fi
        sep=" && "
    done
    if is_root || have sudo; then echo "$out"; else echo "as root: $out"; fi
}

apt_update() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
}

# Candidate version of an apt package without epoch/suffix ("2:1.19~1" -> "1.19"), or "".
apt_candidate() {
    apt-cache policy "$1" 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }' |
        sed -E 's/^[0-9]+://; s/^([0-9]+(\.[0-9]+)*).*/\1/'
}

go_version_of() { # "1.26.8" for the given go binary
    "$1" env GOVERSION 2>/dev/null | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1
}

# Path of a Go toolchain new enough for toxiproxy, or nothing.  Besides PATH,
# looks where go.dev tarballs and Debian's versioned golang-1.xx-go packages land.
find_go() {
    local cand v
    local cands=("$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go-*/bin/go)
    for cand in "${cands[@]}"; do
        if [ -z "$cand" ] || [ ! -x "$cand" ]; then continue; fi
        v="$(go_version_of "$cand")"
        if [ -n "$v" ] && version_ge "$v" "$GO_MIN_VERSION"; then
            echo "$cand"
            return 0
        fi
    done
    return 0
}

redis_major() { redis-server --version 2>/dev/null | sed -nE 's/.*v=([0-9]+)\..*/\1/p'; }

# --- 1. decide what the system lacks ------------------------------------------

if ! have python3; then
    add_apt python3 python3-venv
elif [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    add_apt python3-venv
fi
have redis-server || add_apt redis-server redis-tools
have redis-cli || add_apt redis-tools
have_admin iptables || add_apt iptables
have_admin ip || add_apt iproute2
have shellcheck || add_apt shellcheck # the test suite lints this script with it
have tmux || add_apt tmux # the rehearsal's live test drives the dashboard through it

TOXI=""
NEED_TOXI_BUILD=0
GO_BIN="$(find_go)"
if have toxiproxy-server; then
    TOXI="$(command -v toxiproxy-server)"
elif [ -x "$TOOLS_BIN/toxiproxy-server" ]; then
    TOXI="$TOOLS_BIN/toxiproxy-server"
    built="$("$TOXI" -version 2>/dev/null | head -n1 || true)"
    if [ "$built" != "toxiproxy-server version ${TOXIPROXY_VERSION#v}" ] && [ -n "$GO_BIN" ]; then
        log "$TOXI says '$built', want ${TOXIPROXY_VERSION#v}: rebuilding"
        NEED_TOXI_BUILD=1
    fi
else
    NEED_TOXI_BUILD=1
fi

GO_HINT="install Go >= $GO_MIN_VERSION from https://go.dev/dl/ (into /usr/local/go or anywhere on PATH; a Debian backports golang-1.2x-go >= $GO_MIN_VERSION under /usr/lib/go-1.2x/bin is found too), then re-run: make setup"
GO_MSG=""
if [ "$NEED_TOXI_BUILD" -eq 1 ] && [ -z "$GO_BIN" ]; then
    # Debian's golang-go is only worth installing when it is new enough
    # (bookworm's is 1.19; trixie's 1.24 is fine).
    if is_root && have apt-get; then
        apt_update
        cand="$(apt_candidate golang-go)"
        if [ -n "$cand" ] && version_ge "$cand" "$GO_MIN_VERSION"; then
            add_apt golang-go
        else
            GO_MSG="toxiproxy-server needs Go >= $GO_MIN_VERSION to build (apt's golang-go is ${cand:-unavailable}): $GO_HINT"
        fi
    else
        GO_MSG="toxiproxy-server needs Go >= $GO_MIN_VERSION to build: $GO_HINT"
    fi
fi

# --- 2. system packages -------------------------------------------------------

if [ "${#APT_PKGS[@]}" -gt 0 ]; then
    if is_root && have apt-get; then
        apt_update
        log "apt-get install ${APT_PKGS[*]}"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PKGS[@]}"; then
            changed "installed with apt: ${APT_PKGS[*]}"
            for p in "${APT_PKGS[@]}"; do [ "$p" = redis-server ] && INSTALLED_REDIS=1; done
        else
            warn "apt-get install failed"
        fi
    else
        HINTS+=("$(as_root "apt-get update" "apt-get install -y ${APT_PKGS[*]}")")
    fi
fi

[ -z "$GO_MSG" ] || HINTS+=("$GO_MSG")

# Debian's redis-server package starts (and enables) its own daemon on
# 127.0.0.1:6379.  The harness starts its own servers, so turn that one off.
if [ "$INSTALLED_REDIS" -eq 1 ]; then
    if have systemctl; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
    if have service; then service redis-server stop >/dev/null 2>&1 || true; fi
    if have update-rc.d; then update-rc.d redis-server disable >/dev/null 2>&1 || true; fi
    changed "stopped/disabled the redis-server system service"
fi
if have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" = PONG ]; then
    warn "a redis-server is answering on 127.0.0.1:6379 (not started by the harness); stop it if it was not meant to run: $(as_root "service redis-server stop")"
fi

# --- 3. python venv ---------------------------------------------------------

if [ ! -x "$VENV/bin/python" ]; then
    if have python3 && python3 -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$PYTHON_MIN'.split('.'))))"; then
        if python3 -m venv "$VENV"; then
            rm -f "$STAMP"
            changed "created .venv with $(python3 --version 2>&1)"
        else
            warn "python3 -m venv failed"
        fi
    elif have python3; then
        MISSING+=("python >= $PYTHON_MIN (found $(python3 --version 2>&1))")
    fi
fi
if [ -x "$VENV/bin/python" ]; then
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    stamp="$(cat "$STAMP" 2>/dev/null || true)"
    if [ "$want" != "$stamp" ]; then
        log "pip install -e '.[dev]' (pyproject.toml changed or first run)"
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]'
        printf '%s\n' "$want" >"$STAMP"
        changed "installed the project into .venv (pip install -e '.[dev]')"
    else
        log ".venv is up to date with pyproject.toml"
    fi
else
    MISSING+=(".venv (needs python3 >= $PYTHON_MIN with the venv module)")
fi

# --- 4. toxiproxy ---------------------------------------------------------------

[ -n "$GO_BIN" ] || GO_BIN="$(find_go)" # golang-go may just have been installed
if [ "$NEED_TOXI_BUILD" -eq 1 ] && [ -n "$GO_BIN" ]; then
    log "building toxiproxy-server $TOXIPROXY_VERSION with go $(go_version_of "$GO_BIN") ($GO_BIN)"
    mkdir -p "$TOOLS_BIN"
    BUILD_TMP="$(mktemp -d "$TOOLS_BIN/.build.XXXXXX")"
    # -X ...Version: like upstream's release builds, so `-version` and GET /version
    # say "2.12.0" instead of "git".
    if GOBIN="$BUILD_TMP" CGO_ENABLED=0 "$GO_BIN" install \
        -ldflags "-X $TOXIPROXY_MODULE.Version=${TOXIPROXY_VERSION#v}" \
        "$TOXIPROXY_MODULE/cmd/server@$TOXIPROXY_VERSION"; then
        mv -f "$BUILD_TMP/server" "$TOOLS_BIN/toxiproxy-server"
        TOXI="$TOOLS_BIN/toxiproxy-server"
        changed "built $TOXI ($TOXIPROXY_VERSION)"
    else
        warn "go install of toxiproxy $TOXIPROXY_VERSION failed"
    fi
    rm -rf "$BUILD_TMP"
    BUILD_TMP=""
fi
if [ -n "$TOXI" ]; then
    log "toxiproxy-server: $TOXI"
else
    MISSING+=("toxiproxy-server")
fi

# --- 4b. actionlint --------------------------------------------------------------

# The nightly workflow cannot run on this machine; the test suite lints it (with shellcheck over its
# run: scripts) instead.  Optional for the harness itself, so a failed build is a note, not an error.
ACTIONLINT="$TOOLS_BIN/actionlint"
if [ -x "$ACTIONLINT" ] && "$ACTIONLINT" -version 2>/dev/null | head -1 | grep -qx "${ACTIONLINT_VERSION}"; then
    log "actionlint: $ACTIONLINT ($ACTIONLINT_VERSION)"
elif [ -n "$GO_BIN" ]; then
    log "building actionlint $ACTIONLINT_VERSION with go $(go_version_of "$GO_BIN")"
    mkdir -p "$TOOLS_BIN"
    BUILD_TMP="$(mktemp -d "$TOOLS_BIN/.build.XXXXXX")"
    if GOBIN="$BUILD_TMP" CGO_ENABLED=0 "$GO_BIN" install \
        -ldflags "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
        "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"; then
        mv -f "$BUILD_TMP/actionlint" "$ACTIONLINT"
        changed "built $ACTIONLINT ($ACTIONLINT_VERSION)"
    else
        OPTIONAL+=("actionlint (go install failed; the workflow lint test fails without it)")
    fi
    rm -rf "$BUILD_TMP"
    BUILD_TMP=""
else
    OPTIONAL+=("actionlint (needs Go to build; the workflow lint test fails without it)")
fi

# --- 5. ferretdb ----------------------------------------------------------------

# Rebuilt when missing or when its sources (main.go, go.mod, go.sum) changed since the last
# build: their sha256 is kept beside the binary.
FERRETDB_SRC="$REPO_ROOT/scripts/ferretdb"
FERRETDB_STAMP="$TOOLS_BIN/.ferretdb-stamp"
ferretdb_want="$(cat "$FERRETDB_SRC/main.go" "$FERRETDB_SRC/go.mod" "$FERRETDB_SRC/go.sum" | sha256sum | cut -d' ' -f1)"
if [ -x "$TOOLS_BIN/ferretdb" ] && [ "$(cat "$FERRETDB_STAMP" 2>/dev/null || true)" = "$ferretdb_want" ]; then
    log "ferretdb: $TOOLS_BIN/ferretdb ($("$TOOLS_BIN/ferretdb" --version 2>/dev/null || echo '?'))"
elif [ -n "$GO_BIN" ] && version_ge "$(go_version_of "$GO_BIN")" "$FERRETDB_GO_MIN"; then
    log "building ferretdb from scripts/ferretdb with go $(go_version_of "$GO_BIN") (the first build takes a few minutes)"
    mkdir -p "$TOOLS_BIN"
    if (cd "$FERRETDB_SRC" && CGO_ENABLED=0 "$GO_BIN" build -trimpath -o "$TOOLS_BIN/.ferretdb.new" .); then
        mv -f "$TOOLS_BIN/.ferretdb.new" "$TOOLS_BIN/ferretdb"
        printf '%s\n' "$ferretdb_want" >"$FERRETDB_STAMP"
        changed "built $TOOLS_BIN/ferretdb ($("$TOOLS_BIN/ferretdb" --version))"
    else
        rm -f "$TOOLS_BIN/.ferretdb.new"
        warn "go build of scripts/ferretdb failed"
        OPTIONAL+=("ferretdb (go build in scripts/ferretdb failed; the MongoDB plane runs only where mongod exists)")
    fi
else
    OPTIONAL+=("ferretdb (needs Go >= $FERRETDB_GO_MIN to build; without it and without mongod the MongoDB plane is not_run)")
    HINTS+=("install Go >= $FERRETDB_GO_MIN from https://go.dev/dl/, then re-run: make setup")
fi

# --- 6. docker engine (optional) ------------------------------------------------

# The Docker backend's engine: Debian's docker.io (20.10).  Optional: without it the local backend
# runs everything.  No systemd on our machines, so the engine is started here in the background
# (it keeps running, like an installed service) and waited for with a bounded readiness check.
DOCKERD_LOG=/var/log/harness-dockerd.log
DOCKERD_WAIT_S=60
# The client: Debian's own (/usr/bin/docker, installed with the engine) first, since it speaks the
# engine's API; else whatever `docker` is on PATH.  Chosen again after an install.
docker_bin() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || true; fi; }
docker_answers() {
    local bin
    bin="$(docker_bin)"
    [ -n "$bin" ] && timeout 10 "$bin" info >/dev/null 2>&1
}
docker_summary() { # "20.10.24, storage driver overlay2"
    timeout 10 "$(docker_bin)" info --format '{{.ServerVersion}}, storage driver {{.Driver}}' 2>/dev/null || echo '?'
}
running() { # a live process, not a zombie (an exited child of ours stays one until the script ends)
    local state
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)"
    [ -n "$state" ] && [ "$state" != Z ]
}
# start_dockerd DRIVER: starts the engine detached (its own session, so it outlives this script and
# `make`), then polls `docker info` until it answers (0), dockerd exits (1; a storage-driver
# failure is 2), or DOCKERD_WAIT_S pass (1, and the engine is stopped again).
start_dockerd() {
    local driver="$1" pid waited=0 args=() from
    # A storage driver named in daemon.json as well as on the command line stops dockerd at start.
    grep -qs '"storage-driver"' /etc/docker/daemon.json || args=(--storage-driver "$driver")
    # A dockerd killed outright (as at the end of a session) leaves its pid file; when that pid now
    # names another process, dockerd would refuse to start ("pid file found").
    local old
    old="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null || true)" != dockerd ]; then
        rm -f /var/run/docker.pid
        log "removed a stale /var/run/docker.pid (pid $old is not a dockerd)"
    fi
    log "starting dockerd (${args[*]:-storage driver from /etc/docker/daemon.json}; log: $DOCKERD_LOG)"
    from=$(($(stat -c %s "$DOCKERD_LOG" 2>/dev/null || echo 0) + 1))
    # 9<&-: the engine must not hold this script's flock, or the next `make setup` would wait on it.
    setsid "$(command -v dockerd || echo /usr/sbin/dockerd)" "${args[@]}" </dev/null >>"$DOCKERD_LOG" 2>&1 9<&- &
    pid=$!
    while [ "$waited" -lt $((DOCKERD_WAIT_S * 2)) ]; do
        docker_answers && return 0
        if ! running "$pid"; then # it gave up: the log says why
            tail -c +"$from" "$DOCKERD_LOG" | grep -qiE 'graphdriver|overlay' && return 2
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    warn "dockerd did not answer within ${DOCKERD_WAIT_S}s; stopping it (log: $DOCKERD_LOG)"
    kill "$pid" 2>/dev/null || true
    return 1
}

if ! have_admin dockerd && is_root && have apt-get; then
    apt_update
    log "apt-get install docker.io (the Docker engine, optional)"
    # --no-install-recommends: git, needrestart and apparmor are not needed to run the engine.
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io; then
        changed "installed with apt: docker.io"
    else
        warn "apt-get install docker.io failed"
    fi
fi
# Compose runs what 'harness export compose' writes (tests/live/test_compose_run.py runs it here).
if have_admin dockerd && ! have docker-compose && is_root && have apt-get; then
    apt_update
    log "apt-get install docker-compose (runs what 'harness export compose' writes)"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; then
        changed "installed with apt: docker-compose"
    else
        warn "apt-get install docker-compose failed"
    fi
fi
if docker_answers; then
    log "docker engine: $(docker_summary)"
elif ! have_admin dockerd; then
    OPTIONAL+=("docker engine (the Docker backend; everything else runs on the local backend)")
    HINTS+=("$(as_root "apt-get install -y --no-install-recommends docker.io"), then re-run: make setup")
elif ! is_root; then
    OPTIONAL+=("docker engine is installed but not answering (the Docker backend)")
    HINTS+=("start it as root ($(as_root "make setup") starts it; or: service docker start)")
elif [ -d /run/systemd/system ] && systemctl start docker >/dev/null 2>&1 && docker_answers; then
    changed "started the docker service: $(docker_summary)"
else
    rc=0
    start_dockerd overlay2 || rc=$?
    if [ "$rc" -eq 2 ]; then # overlay2 refused (e.g. a filesystem it cannot stack on): vfs, slower
        warn "dockerd would not start with overlay2 (see $DOCKERD_LOG); trying vfs (slower, more disk)"
        rc=0
        start_dockerd vfs || rc=$?
    fi
    if [ "$rc" -eq 0 ]; then
        changed "started dockerd: $(docker_summary); log: $DOCKERD_LOG"
    else
        OPTIONAL+=("docker engine (dockerd would not start; see $DOCKERD_LOG)")
    fi
fi

# --- 7. what is still missing -------------------------------------------------

if ! have redis-server; then
    MISSING+=("redis-server")
else
    major="$(redis_major)"
    if [ -z "$major" ] || [ "$major" -lt "$REDIS_MIN_MAJOR" ]; then
        MISSING+=("redis-server >= $REDIS_MIN_MAJOR (found: $(redis-server --version 2>&1 | head -n1))")
    fi
fi
have redis-cli || OPTIONAL+=("redis-cli (package redis-tools; bench uses redis-cli --pipe)")
have_admin iptables || OPTIONAL+=("iptables (package iptables; network faults)")
have_admin ip || OPTIONAL+=("ip (package iproute2; network namespaces)")

# --- 8. doctor and summary ----------------------------------------------------

if [ -x "$VENV/bin/python" ]; then
    echo
    "$VENV/bin/python" -m harness.doctor || warn "harness.doctor failed"
    echo
fi

if [ "${#CHANGES[@]}" -eq 0 ]; then
    log "setup: nothing changed"
else
    log "setup: changed:"
    printf '      - %s\n' "${CHANGES[@]}"
fi
if [ "${#OPTIONAL[@]}" -gt 0 ]; then
    warn "optional tools missing:"
    printf '      - %s\n' "${OPTIONAL[@]}" >&2
fi
if [ "${#HINTS[@]}" -gt 0 ]; then
    warn "to finish the setup, run:"
    printf '      %s\n' "${HINTS[@]}" >&2
fi
if [ "${#MISSING[@]}" -gt 0 ]; then
    printf 'ERROR: required tools still missing:\n' >&2
    printf '      - %s\n' "${MISSING[@]}" >&2
    exit 1
fi
