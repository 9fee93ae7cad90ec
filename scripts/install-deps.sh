#!/usr/bin/env bash
# Install everything Berth's demo, tests, benchmarks and book need on a Debian machine.
# Idempotent and quiet when nothing is missing. Run as root.
set -euo pipefail

# Debian packages: the busybox fixture, the real peers we compare with and test against, and
# strace (the crash tests kill a pull at an exact system call with it), and Debian's docker-compose
# 1.29 (Python, on Debian's python3-docker 5.0.3: a client of berthd we did not write).
APT_PACKAGES=(busybox-static runc crun umoci skopeo docker-registry iproute2 nftables util-linux apache2-utils openssl curl chromium python3-venv strace docker-compose)
# The book's tools, pinned so every machine renders the same book.
MDBOOK_VERSION=0.5.4
MDBOOK_MERMAID_VERSION=0.17.1

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_version() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -q "$2"; }
if ! have_version mdbook "v$MDBOOK_VERSION"; then
    echo "install-deps: installing mdbook $MDBOOK_VERSION"
    cargo install --quiet --locked "mdbook@$MDBOOK_VERSION"
fi
if ! have_version mdbook-mermaid "$MDBOOK_MERMAID_VERSION"; then
    echo "install-deps: installing mdbook-mermaid $MDBOOK_MERMAID_VERSION"
    cargo install --quiet --locked "mdbook-mermaid@$MDBOOK_MERMAID_VERSION"
fi

# The docker Python SDK, a client of berthd we did not write (the engine's tests drive it), in a
# virtualenv of our own so the system Python is left alone.
DOCKER_PY_VERSION=7.1.0
BERTH_VENV=/var/cache/berth/venv
if ! "$BERTH_VENV/bin/python" -c "import docker, sys; sys.exit(docker.__version__ != '$DOCKER_PY_VERSION')" 2>/dev/null; then
    echo "install-deps: installing the docker Python SDK $DOCKER_PY_VERSION into $BERTH_VENV"
    python3 -m venv "$BERTH_VENV"
    "$BERTH_VENV/bin/pip" install --quiet --disable-pip-version-check "docker==$DOCKER_PY_VERSION"
fi
