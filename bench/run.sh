#!/usr/bin/env bash
# Issue 12's comparisons in one command (docs/BENCHMARKS.md): azs-backup against what an operator
# would script, each case run alternately (A B A B) in one run, with medians, ratios and peak RSS
# (GNU time), and the targets beside them.
#
#   bash bench/run.sh [WORKDIR]         (default /tmp/azs-bench; as root: it mounts a tmpfs and
#                                        starts a throwaway Samba server)
#
# Runs, in order, each script writing its own table:
#   1. bench/ab.sh DATA, LEVELS "1 3"          targets 2 and 3: backup at levels 1 and 3, restore
#                                              into a tmpfs and verify --key, against
#                                              tar | zstd -L -T2 | age and age -d | zstd -d | tar
#   2. bench/ab.sh SMALL, LEVELS 1             target 4: 200,000 files of 40 B-3 KiB in 400 folders
#   3. bench/smb-latency.sh, no proxy,         target 5: backup to Samba on loopback against the
#      with the pipeline                       pipeline followed by smbclient put
#   4. bench/smb-latency.sh, 10 ms each way    target 7: upload rate through a remote link against
#                                              smbclient put of the same bytes
#   5. bench/scale.sh DATA BIG SMALL           target 6: peak RSS for 4x the bytes and 10x the files
#                                              (the peak RSS of 1-4 is in their tables too)
# WORKDIR/results.md gets the machine and every table; WORKDIR/logs/ the scripts' logs.
#
# Environment:
#   AZS_BENCH_ROUNDS   rounds of each case (default 5 for 1, 3 for 2-4, 1 for 5)
#   AZS_BENCH_SCALE    0: skip 5 (it needs a 4.2 GiB data set, generated once)
#   AZS_BENCH_GEN      gen_data.py (default ../shared/bench/gen_data.py beside the repository)
#   AZS_BENCH_SEED     data set seed (default 20240601)
#   AZS_BIN            the azs-backup binary (default: cargo build --release, then its binary)
#   AZS_BIN_BASE       a second binary, run alternately beside the first in 1-4 (A/B of two builds)
#   AZS_BENCH_SMB2_PROTO  1: 3 and 4 also run bench/smb2-proto (another SMB client, the network side)
#   AZS_BENCH_SIGNING  1: the Samba server of 3 and 4 requires every request to be signed
# Data sets are generated once into WORKDIR (standard 1.06 GiB, small 133 MiB, big 4.2 GiB) and
# reused while their generator's summary line is there. A full run takes about 10 minutes on 2
# cores, plus the data sets the first time. No timing here is asserted anywhere: the tables are
# read by people (docs/BENCHMARKS.md).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/azs-bench}
GEN=${AZS_BENCH_GEN:-$REPO/../shared/bench/gen_data.py}
SEED=${AZS_BENCH_SEED:-20240601}
ROUNDS=${AZS_BENCH_ROUNDS:-}
SCALE=${AZS_BENCH_SCALE:-1}

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# --- tools, binary --------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (a tmpfs and a throwaway Samba server)"
missing=()
for pair in age:age age-keygen:age zstd:zstd smbd:samba smbpasswd:samba smbclient:smbclient \
    /usr/bin/time:time pkg-config:pkg-config python3:python3 bc:bc; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
dpkg-query -W -f='${Status}' libsmbclient-dev 2>/dev/null | grep -q "install ok installed" ||
    missing+=(libsmbclient-dev)
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${AZS_BIN:-}" ]; then
    command -v cargo >/dev/null || die "install Rust first (https://rustup.rs)"
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet)
    TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    AZS_BIN=$TARGET_DIR/release/azs-backup
fi
AZS_BIN=$(cd "$(dirname "$AZS_BIN")" && pwd)/$(basename "$AZS_BIN")
[ -x "$AZS_BIN" ] || die "no binary at $AZS_BIN"
export AZS_BIN
[ -z "${AZS_BIN_BASE:-}" ] || export AZS_BIN_BASE

# --- data sets ------------------------------------------------------------------------------
mkdir -p "$W" "$W/logs"
W=$(cd "$W" && pwd)
chmod 0755 "$W" # the Samba server's user writes below it
[ -f "$GEN" ] || die "gen_data.py not found at $GEN (set AZS_BENCH_GEN)"
# data DIR CMD...: runs the generator CMD (its last argument list) once; DIR.done keeps its
# summary line (files, bytes, digest) and marks the set complete.
data() {
    local dir=$1
    shift
    if [ ! -s "$dir.done" ]; then
        rm -rf "$dir"
        log "generating $dir: $*"
        "$@" >"$dir.done.tmp"
        mv "$dir.done.tmp" "$dir.done"
    fi
}
DATA=$W/data SMALL=$W/small BIG=$W/big
data "$DATA" python3 "$GEN" "$DATA" "$SEED"
data "$SMALL" python3 "$REPO/bench/gen_small.py" "$SMALL"
[ "$SCALE" = 0 ] || data "$BIG" python3 "$GEN" "$BIG" "$SEED" 18

# --- the comparisons ------------------------------------------------------------------------
# step N TITLE CMD...: runs CMD, its table (stdout) to $W/logs/N.md, its log to $W/logs/N.log.
step() {
    local n=$1 title=$2
    shift 2
    log "$n. $title"
    "$@" >"$W/logs/$n.md" 2>"$W/logs/$n.log" || {
        tail -n 30 "$W/logs/$n.log" >&2
        die "$n. failed (log: $W/logs/$n.log)"
    }
    { printf '\n## %s. %s\n\n' "$n" "$title"; cat "$W/logs/$n.md"; } >>"$W/results.tmp"
}
: >"$W/results.tmp"
step 1 "Targets 2 and 3: the standard data set, backup (levels 1, 3), restore, verify --key" \
    env LEVELS="1 3" bash "$REPO/bench/ab.sh" "$DATA" "$W/ab" "${ROUNDS:-5}"
step 2 "Target 4: 200,000 small files" \
    env LEVELS=1 bash "$REPO/bench/ab.sh" "$SMALL" "$W/ab" "${ROUNDS:-3}"
step 3 "Target 5: backup to Samba on loopback against the pipeline, then smbclient put" \
    env AZS_BENCH_DATA="$DATA" AZS_BENCH_DELAY_MS=0 AZS_BENCH_PIPELINE=1 \
    AZS_BENCH_RUNS="${ROUNDS:-3}" bash "$REPO/bench/smb-latency.sh" "$W/smb"
step 4 "Target 7: a share in another site (10 ms each way)" \
    env AZS_BENCH_DATA="$DATA" AZS_BENCH_DELAY_MS=10 AZS_BENCH_RUNS="${ROUNDS:-3}" \
    bash "$REPO/bench/smb-latency.sh" "$W/smb"
if [ "$SCALE" != 0 ]; then
    step 5 "Target 6: peak RSS against the data size (standard, 4x the bytes, 10x the files)" \
        env ROUNDS="${AZS_BENCH_SCALE_ROUNDS:-1}" bash "$REPO/bench/scale.sh" "$W/scale" \
        "$DATA" "$BIG" "$SMALL"
fi

# --- report ---------------------------------------------------------------------------------
{
    echo "# azs-backup against the scripted pipelines (bench/run.sh)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- binary: $AZS_BIN ($("$AZS_BIN" --version 2>/dev/null | head -n1)); commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [ -z "${AZS_BIN_BASE:-}" ] || echo "- base binary: $AZS_BIN_BASE"
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores; memory $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r)"
    echo "- tools: $(zstd --version | head -n1); age $(age --version); $(smbclient --version); $(tar --version | head -n1)"
    echo "- data: standard $(cat "$DATA.done"); small $(cat "$SMALL.done")$([ "$SCALE" = 0 ] || echo "; big $(cat "$BIG.done")")"
    cat "$W/results.tmp"
} >"$W/results.md"
rm -f "$W/results.tmp"
cat "$W/results.md"
log "written to $W/results.md"
