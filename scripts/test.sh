#!/usr/bin/env bash
# The one test command (README.md): installs what the suite needs, starts a throwaway Samba
# server on 127.0.0.1, runs every test, and stops the server again.
#
#   bash scripts/test.sh            # from a fresh clone, as root (or with sudo available)
#
# Installs, when missing: Debian packages pkg-config libsmbclient-dev samba smbclient openssl
# zstd python3-pip util-linux iproute2; Python packages cryptography (for the independent
# decryption tests).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test.sh: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"
        exit 1
    fi
}

# 1. System packages.
pkgs=(pkg-config libsmbclient-dev samba smbclient openssl zstd python3 python3-pip util-linux iproute2)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Python packages for the independent implementations.
if ! python3 -c 'import cryptography' 2>/dev/null; then
    log "installing Python package cryptography"
    python3 -m pip install -q cryptography 2>/dev/null ||
        python3 -m pip install -q --break-system-packages cryptography
fi

# 3. A throwaway Samba server, stopped on exit.
SMBDIR=$(mktemp -d /tmp/azs-backup-samba.XXXXXX)
cleanup() {
    bash scripts/samba-server.sh stop "$SMBDIR" >/dev/null 2>&1 || true
    rm -rf "$SMBDIR" 2>/dev/null || true
}
trap cleanup EXIT
bash scripts/samba-server.sh start "$SMBDIR"
# shellcheck disable=SC1091
. "$SMBDIR/env"
export AZS_TEST_SMB=required

# 4. The suite: everything with the default features, then the library and the local-target
#    tests without SMB support (the build Windows and minimal Linux installs use).
cargo test --all-targets
cargo test --no-default-features --lib
cargo build --no-default-features
log "all tests passed"
