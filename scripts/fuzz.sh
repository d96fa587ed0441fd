#!/usr/bin/env bash
# Fuzzes azs-backup's parsers of untrusted input with cargo-fuzz (fuzz/, docs/FUZZING.md):
# each target in turn, never two at once.
#
#   bash scripts/fuzz.sh                 # every target, 60 seconds each
#   bash scripts/fuzz.sh 600 unpack      # one target for 10 minutes
#   FUZZ_ARGS='-timeout=30' bash scripts/fuzz.sh 60 certificate   # extra libFuzzer options
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz (installed from
# crates.io when missing). The corpus grows in fuzz/corpus/TARGET (not committed), starting from
# the committed seeds in fuzz/seeds/TARGET; crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "fuzz.sh: $*" >&2; }

seconds=${1:-60}
case "$seconds" in
'' | *[!0-9]*)
    log "SECONDS must be a whole number, not '$seconds'"
    exit 2
    ;;
esac
[ $# -gt 0 ] && shift
targets=("$@")

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

read -r -a extra <<<"${FUZZ_ARGS:-}"
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log "$t: $seconds seconds"
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" "${extra[@]}"
done
log "done: ${targets[*]}"
