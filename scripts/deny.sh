#!/usr/bin/env bash
# Every cargo-deny check (deny.toml), including advisories against the RustSec advisory
# database. The database is a git repository on GitHub, so run this where GitHub is reachable
# (CI cannot reach it: .ci/run runs `bash scripts/deny.sh licenses bans sources`).
#
#   bash scripts/deny.sh                # all checks
#   bash scripts/deny.sh advisories     # only the named checks
#
# Installs the pinned cargo-deny from crates.io when that version is not already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    # cargo-deny's own release profile asks for fat LTO and one codegen unit: on 2 cores its
    # build takes 255 s instead of 154 s (docs/BENCHMARKS.md, "CI time"). The checks take about
    # a second either way.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi
cargo deny --locked check "$@"
