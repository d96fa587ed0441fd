#!/usr/bin/env bash
# Benchmark of azs-backup (docs/BENCHMARKS.md): a backup compared with `tar | zstd | age` and with
# `smbclient put` on the same data, plus verify/restore timings and a memory-bound check.
#
#   bench/run.sh [WORKDIR]          (default /tmp/azs-bench; must be under a directory that
#                                    others can search, e.g. /tmp, for the Samba server)
#
# Environment:
#   AZS_BENCH_GEN     path of gen_data.py (default ../shared/bench/gen_data.py beside the repo)
#   AZS_BENCH_SEED    data set seed (default 20240601)
#   AZS_BENCH_RUNS    timed runs per case, the best is reported (default 2)
#   AZS_BENCH_BIG     N_LARGE of the larger data set for the memory-bound check (default 5;
#                     0 skips the check)
#   AZS_BENCH_KEEP    1: keep the outputs of the last runs (default: deleted at the end)
#   AZS_BENCH_RESTORE_DIR  restore to DIR/azs-bench-restore on disk (default: a 3 GiB tmpfs)
#   AZS_BENCH_QUIET_WAIT   seconds to wait before each run for idle CPUs (default 600)
#
# Needs root (Samba server, apt-get); installs what is missing on Debian: age, zstd, samba,
# smbclient, time, pkg-config, libsmbclient-dev. Writes WORKDIR/results.md and prints the table.
# The data sets (WORKDIR/data, WORKDIR/data-big) are kept and reused when their digest matches.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/azs-bench}
GEN=${AZS_BENCH_GEN:-$REPO/../shared/bench/gen_data.py}
SEED=${AZS_BENCH_SEED:-20240601}
RUNS=${AZS_BENCH_RUNS:-2}
BIG_N=${AZS_BENCH_BIG:-5}
KEEP=${AZS_BENCH_KEEP:-0}
TIMEFMT='%e %U %S %M'

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() {
    echo "bench: $*" >&2
    exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. tools and build -------------------------------------------------------------------
install_missing() {
    local missing=() pair cmd pkg
    for pair in age:age age-keygen:age zstd:zstd smbd:samba smbpasswd:samba \
        smbclient:smbclient /usr/bin/time:time pkg-config:pkg-config python3:python3; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    dpkg-query -W -f='${Status}' libsmbclient-dev 2>/dev/null | grep -q "install ok installed" ||
        missing+=(libsmbclient-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        log "installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_missing
[ "$(id -u)" = 0 ] || die "run as root (the throwaway Samba server needs it)"
command -v cargo >/dev/null || die "install Rust first (https://rustup.rs)"
log "cargo build --release"
(cd "$REPO" && cargo build --release --quiet)
TARGET_DIR=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release/azs-backup
[ -x "$BIN" ] || die "no binary at $BIN"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 0755 "$WORK"
[ -f "$GEN" ] || die "gen_data.py not found at $GEN (set AZS_BENCH_GEN)"
GEN=$(cd "$(dirname "$GEN")" && pwd)/$(basename "$GEN")

# --- 2. data sets ---------------------------------------------------------------------------
# The digest gen_data.py prints: sha256 over (relative path, NUL, sha256 of contents), sorted walk.
digest_of() {
    python3 - "$1" <<'EOF'
import hashlib, os, sys
out = sys.argv[1]; h = hashlib.sha256()
for root, dirs, names in os.walk(out):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(root, n); f = hashlib.sha256()
        with open(p, "rb") as fh:
            for b in iter(lambda: fh.read(1 << 20), b""): f.update(b)
        h.update(os.path.relpath(p, out).encode() + b"\0" + f.digest())
print(h.hexdigest())
EOF
}

# ensure_data DIR N_LARGE: DIR.digest holds the parameters and gen_data.py's summary line.
ensure_data() {
    local dir=$1 n=$2 params stored
    params="gen=$(sha256sum "$GEN" | cut -c1-16) python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])') seed=$SEED n_large=$n"
    if [ -d "$dir" ] && [ -s "$dir.digest" ] && [ "$(head -n1 "$dir.digest")" = "$params" ]; then
        stored=$(sed -n 2p "$dir.digest" | sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p')
        log "checking $dir against $dir.digest"
        if [ -n "$stored" ] && [ "$(digest_of "$dir")" = "$stored" ]; then
            log "reusing $dir ($(sed -n 2p "$dir.digest"))"
            return 0
        fi
        log "$dir does not match its digest: generating it again"
    fi
    if [ -e "$dir" ]; then
        rm -rf "$dir" "$dir.digest"
        date +%s >"$WORK/trash.deleted" # many files deleted: see settle below
    fi
    log "generating $dir: python3 $GEN $dir $SEED $n (takes a while)"
    local line
    line=$(python3 "$GEN" "$dir" "$SEED" "$n")
    printf '%s\n%s\n' "$params" "$line" >"$dir.digest"
    log "$line"
}

data_bytes() { sed -n 2p "$1.digest" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p'; }

DATA=$WORK/data
BIG=$WORK/data-big
ensure_data "$DATA" 2
IN_BYTES=$(data_bytes "$DATA")
if [ "$BIG_N" -gt 0 ]; then
    ensure_data "$BIG" "$BIG_N"
    BIG_BYTES=$(data_bytes "$BIG")
fi
df -h "$WORK" >&2
# Outputs: the backups and the .age file (~0.75 GiB each, one at a time), the larger backup
# (~1.3 GiB) and, when restoring to disk, four restored trees (~1.1 GiB each, kept until the end).
avail_kib=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
[ "$avail_kib" -ge $((8 * 1024 * 1024)) ] ||
    die "less than 8 GiB free in $WORK for the outputs ($((avail_kib / 1024)) MiB)"

# --- 3. Samba server and isolated client config ---------------------------------------------
SMB=$WORK/smb
OUT=$WORK/out
ISO_HOME=$WORK/home
T=$WORK/times
TRASH=$WORK/trash

# Restores go to a tmpfs (WORKDIR/restore, 3 GiB) unless AZS_BENCH_RESTORE_DIR names a directory
# on disk. Why: on ext4 without a journal (this benchmark's VM) the kernel avoids reusing an inode
# freed less than 60 s ago, or 360 s when its inode-table block is dirty, which it is as soon as
# a neighbour inode is allocated; every allocation then scans past the freed inodes
# (find_inode_bit -> recently_deleted -> sb_find_get_block in fs/ext4/ialloc.c). Extracting
# 20,000 files within minutes of deleting 20,000 others ran 3 to 6 times slower, all in the
# kernel, whichever tool extracted. On disk, trees of many files are therefore moved to
# WORKDIR/trash during the run and deleted at exit, and each restore first waits until 6 minutes
# have passed since the last such deletion (WORKDIR/trash.deleted).
trash() {
    local p
    for p; do
        [ -e "$p" ] && mv "$p" "$TRASH/$(date +%s%N)"
    done
    return 0
}
empty_trash() {
    local n
    n=$(find "$TRASH" -mindepth 1 2>/dev/null | head -n 1001 | wc -l)
    if [ "$n" -gt 0 ]; then
        rm -rf "${TRASH:?}"/*
        # Only deleting many files matters (a few backups' files do not).
        [ "$n" -le 1000 ] || date +%s >"$WORK/trash.deleted"
    fi
}
settle() {
    [ "$RESTORE_ON" = disk ] || return 0
    local last wait
    last=$(cat "$WORK/trash.deleted" 2>/dev/null || echo 0)
    wait=$((last + 365 - $(date +%s)))
    if [ "$wait" -gt 0 ]; then
        log "waiting ${wait}s before restoring to disk: many files were deleted less than 6 minutes ago (see recently_deleted in bench/run.sh)"
        sleep "$wait"
    fi
}
# A restored tree is done with: deleted at once on tmpfs, moved to the trash on disk.
done_with() {
    if [ "$RESTORE_ON" = tmpfs ]; then rm -rf "$@"; else trash "$@"; fi
}

mkdir -p "$TRASH"
trash "$OUT"
empty_trash
rm -rf "$ISO_HOME" "$T" "$WORK/cfg-local" "$WORK/cfg-smb" "$WORK/cert"
mkdir -p "$OUT" "$ISO_HOME/.smb" "$T"

cleanup() {
    local rc=$?
    if [ -s "$SMB/run/smbd.pid" ]; then
        bash "$REPO/scripts/samba-server.sh" stop "$SMB" >/dev/null 2>&1 || true
    fi
    if [ "$KEEP" != 1 ]; then
        trash "$OUT" "$SMB/share/backups/bench" 2>/dev/null || true
        [ "${RESTORE_ON:-}" = disk ] && trash "$RESTORE"
        empty_trash || true
    fi
    if [ -n "${MOUNTED_RESTORE:-}" ]; then
        umount "$RESTORE" 2>/dev/null || umount -l "$RESTORE" 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MOUNTED_RESTORE=
if [ -n "${AZS_BENCH_RESTORE_DIR:-}" ]; then
    RESTORE=$AZS_BENCH_RESTORE_DIR/azs-bench-restore
    RESTORE_ON=disk
    trash "$RESTORE"
    empty_trash
    mkdir -p "$RESTORE"
else
    RESTORE=$WORK/restore
    RESTORE_ON=tmpfs
    mkdir -p "$RESTORE"
    if ! mountpoint -q "$RESTORE"; then
        mount -t tmpfs -o size=3g,mode=0755 azs-bench-restore "$RESTORE" ||
            die "cannot mount a tmpfs on $RESTORE: set AZS_BENCH_RESTORE_DIR to restore to disk"
        MOUNTED_RESTORE=1
    fi
    rm -rf "${RESTORE:?}"/*
    # The first extraction into a fresh tmpfs ran 1.5-2.5 times slower (system time: page and
    # inode allocation) than later ones: copy the data set in and out once, untimed.
    log "warming up the tmpfs for restores"
    mkdir "$RESTORE/warm-up"
    tar -C "$DATA" -cf - . | tar -C "$RESTORE/warm-up" -xf -
    rm -rf "$RESTORE/warm-up"
fi
: >"$ISO_HOME/.smb/smb.conf"
: >"$WORK/smbclient.conf" # smbclient: library defaults too, not /etc/samba/smb.conf

log "starting Samba: scripts/samba-server.sh start $SMB"
bash "$REPO/scripts/samba-server.sh" start "$SMB" >&2
# shellcheck disable=SC1091
. "$SMB/env"
SHARE_DIR=$SMB/share/backups
SMB_AUTH=$SMB/smbclient.auth # written by samba-server.sh: username/password, mode 0600
rm -rf "$SHARE_DIR/bench"
install -d -o "$AZS_TEST_SMB_USER" "$SHARE_DIR/bench"

azs() { env HOME="$ISO_HOME" "$BIN" "$@"; }

# --- 4. measurement helpers -------------------------------------------------------------------
# Results: one tab-separated line per case in $T/results: key label seconds cpu rss_kib out_bytes in_bytes
# Bytes of the regular files under the paths given.
sizeof() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

# Share of the CPUs busy over one second (from /proc/stat), in percent.
cpu_busy() {
    local a b
    a=$(head -n1 /proc/stat)
    sleep 1
    b=$(head -n1 /proc/stat)
    printf '%s\n%s\n' "$a" "$b" | awk '{idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i
        if (NR == 1) { i0 = idle; t0 = tot } else printf "%d\n", 100 * (1 - (idle - i0) / (tot - t0)) }'
}

# Waits (up to AZS_BENCH_QUIET_WAIT seconds, default 600) until other processes use less than
# 10 % of the CPUs: the machine may be shared (builds, test suites). Counts runs that started
# on a busy machine anyway.
BUSY_RUNS=0
quiet() {
    local deadline=$((SECONDS + ${AZS_BENCH_QUIET_WAIT:-600})) busy said=
    while busy=$(cpu_busy) && [ "$busy" -ge 10 ]; do
        if [ $SECONDS -ge $deadline ]; then
            log "the CPUs are still ${busy}% busy: measuring anyway"
            BUSY_RUNS=$((BUSY_RUNS + 1))
            return 0
        fi
        [ -n "$said" ] || log "the CPUs are ${busy}% busy with other work: waiting for them to calm down"
        said=1
        sleep 4
    done
}

# timed FILE CMD...: runs CMD under GNU time, the last line of FILE is "wall user sys maxrss".
# Dirty pages of the previous case are written back first (untimed), so that their writeback
# does not land in this measurement; the page cache keeps the data set.
timed() {
    local f=$1
    shift
    sync
    quiet
    /usr/bin/time -f "$TIMEFMT" -o "$f" "$@"
}

# A run: "wall cpu rss_kib out_bytes" appended to $T/KEY.runs.
record_run() {
    local key=$1 tf=$2 out=$3
    tail -n1 "$tf" | awk -v o="$out" '{printf "%s %.2f %d %d\n", $1, $2 + $3, $4, o}' >>"$T/$key.runs"
}

# Best run (least wall time) with the highest peak RSS of all runs, into $T/results.
summarise() {
    local key=$1 label=$2 in=$3
    sort -n -k1,1 "$T/$key.runs" | L=$label awk -v k="$key" -v in_b="$in" '
        BEGIN { l = ENVIRON["L"] }
        NR == 1 { w = $1; c = $2; o = $4 } { if ($3 > r) r = $3 }
        END { printf "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", k, l, w, c, r, o, in_b }' >>"$T/results"
}

warm_up() {
    log "warm-up read of $1"
    tar -C "$1" -cf - . | cat >/dev/null
}

backup_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["backupId"])' <"$1"; }

# --- certificate, age key, settings -----------------------------------------------------------
azs new-cert --dns-name bench.azs-backup.test --out-dir "$WORK/cert" --no-pfx -q
CER=$WORK/cert/bench.azs-backup.test.cer
PEM=$WORK/cert/bench.azs-backup.test.pem
rm -f "$WORK/age.key"
age-keygen -o "$WORK/age.key" 2>/dev/null
AGE_RECIPIENT=$(age-keygen -y "$WORK/age.key")

CFG_L=$WORK/cfg-local/settings.toml
CFG_S=$WORK/cfg-smb/settings.toml
mkdir -p "$WORK/cfg-local" "$WORK/cfg-smb"
printf 'unused\n' | azs --config "$CFG_L" configure -q --path "$OUT/local" --username bench \
    --password-stdin --encryption-cert-path "$CER" --source "data=$DATA"
printf '%s\n' "$AZS_TEST_SMB_PASSWORD" | azs --config "$CFG_S" configure -q \
    --path "smb://127.0.0.1:$AZS_TEST_SMB_PORT/backups/bench" --username "$AZS_TEST_SMB_USER" \
    --password-stdin --encryption-cert-path "$CER" --source "data=$DATA"

warm_up "$DATA"

# --- a. azs-backup to a local directory -------------------------------------------------------
LAST_LOCAL_ID=
for i in $(seq "$RUNS"); do
    [ -n "$LAST_LOCAL_ID" ] && rm -rf "$OUT/local/MASBackup/$LAST_LOCAL_ID"
    log "a. azs-backup start-backup, local target, run $i"
    timed "$T/a.$i" env HOME="$ISO_HOME" "$BIN" --config "$CFG_L" start-backup --json >"$T/a.$i.json"
    LAST_LOCAL_ID=$(backup_id "$T/a.$i.json")
    record_run a "$T/a.$i" "$(sizeof "$OUT/local/MASBackup/$LAST_LOCAL_ID")"
done
summarise a "a. azs-backup → local dir" "$IN_BYTES"

# --- e. verify and restore (local) --------------------------------------------------------------
for i in $(seq "$RUNS"); do
    log "e. azs-backup verify --key, run $i"
    timed "$T/ev.$i" env HOME="$ISO_HOME" "$BIN" --config "$CFG_L" verify "$LAST_LOCAL_ID" --key "$PEM" -q
    record_run ev "$T/ev.$i" 0
done
summarise ev "e. azs-backup verify --key" "$IN_BYTES"
settle
for i in $(seq "$RUNS"); do
    log "e. azs-backup restore --key, run $i"
    timed "$T/er.$i" env HOME="$ISO_HOME" "$BIN" --config "$CFG_L" restore "$LAST_LOCAL_ID" --key "$PEM" --to "$RESTORE/azs.$i" -q
    record_run er "$T/er.$i" "$(sizeof "$RESTORE/azs.$i")"
    if [ "$i" -lt "$RUNS" ]; then done_with "$RESTORE/azs.$i"; fi
done
summarise er "e. azs-backup restore --key" "$IN_BYTES"
log "checking the restored tree against the data set digest"
[ "$(digest_of "$RESTORE/azs.$RUNS/data")" = "$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$DATA.digest")" ] ||
    die "the restored tree differs from the data set"
done_with "$RESTORE/azs.$RUNS"
rm -rf "$OUT/local/MASBackup/$LAST_LOCAL_ID"

# --- b. azs-backup to the Samba share ----------------------------------------------------------
LAST_ID=
for i in $(seq "$RUNS"); do
    [ -n "$LAST_ID" ] && rm -rf "$SHARE_DIR/bench/MASBackup/$LAST_ID"
    log "b. azs-backup start-backup, smb://127.0.0.1:$AZS_TEST_SMB_PORT/backups/bench, run $i"
    timed "$T/b.$i" env HOME="$ISO_HOME" "$BIN" --config "$CFG_S" start-backup --json >"$T/b.$i.json"
    LAST_ID=$(backup_id "$T/b.$i.json")
    record_run b "$T/b.$i" "$(sizeof "$SHARE_DIR/bench/MASBackup/$LAST_ID")"
done
summarise b "b. azs-backup → SMB share" "$IN_BYTES"
rm -rf "$SHARE_DIR/bench/MASBackup/$LAST_ID"

# --- c. tar | zstd | age, d. + smbclient put, and the same pipeline backwards ------------------
# timed_pipe FILE STAGE...: runs STAGE1 | STAGE2 | ... (bash snippets; they see exported
# variables) with GNU time around each stage and around the whole. FILE.sum gets
# "wall user sys rss": wall and CPU of the whole, and as peak RSS the sum of the stages' peaks
# (an upper bound: they run at the same time; GNU time around the whole would report only the
# largest stage). FILE.stages gets one line per stage.
timed_pipe() {
    local f=$1 script='set -euo pipefail; ' n=0 s
    shift
    for s in "$@"; do
        n=$((n + 1))
        [ $n -gt 1 ] && script+=' | '
        script+="/usr/bin/time -f '$TIMEFMT' -o '$f.s$n' $s"
    done
    timed "$f" bash -c "$script"
    local rss
    rss=$(for ((k = 1; k <= n; k++)); do tail -n1 "$f.s$k"; done | awk '{s += $4} END {print s}')
    tail -n1 "$f" | awk -v r="$rss" '{print $1, $2, $3, r}' >"$f.sum"
    : >"$f.stages"
    for ((k = 1; k <= n; k++)); do
        s=${!k}
        tail -n1 "$f.s$k" | awk -v s="${s%% *}" '{printf "%-6s wall %5.2f s  user %5.2f s  sys %5.2f s  peak RSS %6.1f MiB\n", s, $1, $2, $3, $4 / 1024}' >>"$f.stages"
    done
}

export DATA AGE_RECIPIENT WORK
export AGE_OUT=$OUT/out.tar.zst.age AGE_KEY=$WORK/age.key
for i in $(seq "$RUNS"); do
    rm -f "$AGE_OUT"
    log "c. tar | zstd -3 -T0 | age, run $i"
    timed_pipe "$T/c.$i" 'tar -C "$DATA" -cf - .' 'zstd -3 -T0 -q' 'age -r "$AGE_RECIPIENT" >"$AGE_OUT"'
    record_run c "$T/c.$i.sum" "$(sizeof "$AGE_OUT")"
    cp "$T/c.$i.stages" "$T/c.stages.$i"

    # The local target of azs-backup fsyncs each archive before renaming it into place: the
    # same for the pipeline's output, as a separate row.
    /usr/bin/time -f "$TIMEFMT" -o "$T/cs.$i" sync "$AGE_OUT" # no global sync before it
    paste -d' ' <(tail -n1 "$T/c.$i.sum") <(tail -n1 "$T/cs.$i") |
        awk '{printf "%.2f %.2f %.2f %d\n", $1 + $5, $2 + $6, $3 + $7, ($4 > $8 ? $4 : $8)}' >"$T/cs.$i.sum"
    record_run cs "$T/cs.$i.sum" "$(sizeof "$AGE_OUT")"

    log "d. smbclient put, run $i"
    timed "$T/dp.$i" smbclient --configfile="$WORK/smbclient.conf" "//127.0.0.1/backups" \
        -p "$AZS_TEST_SMB_PORT" -A "$SMB_AUTH" \
        -c "put $AGE_OUT bench/x" >"$T/dp.$i.out" 2>&1 || {
        cat "$T/dp.$i.out" >&2
        die "smbclient put failed"
    }
    record_run dp "$T/dp.$i" "$(sizeof "$SHARE_DIR/bench/x")"
    # d. total = this run's c + put: wall and CPU add up, RSS is the larger one.
    paste -d' ' <(tail -n1 "$T/c.$i.sum") <(tail -n1 "$T/dp.$i") |
        awk '{printf "%.2f %.2f %.2f %d\n", $1 + $5, $2 + $6, $3 + $7, ($4 > $8 ? $4 : $8)}' >"$T/d.$i"
    record_run d "$T/d.$i" "$(sizeof "$SHARE_DIR/bench/x")"
    rm -f "$SHARE_DIR/bench/x"

    # References for e.: the pipeline backwards, listing (reads every entry) and extracting.
    log "e. reference: age -d | zstd -d | tar -t / tar -x, run $i"
    timed_pipe "$T/cv.$i" 'age -d -i "$AGE_KEY" "$AGE_OUT"' 'zstd -d -q' 'tar -tf - >/dev/null'
    record_run cv "$T/cv.$i.sum" 0
    export RESTORE_TAR=$RESTORE/tar.$i
    mkdir -p "$RESTORE_TAR"
    settle
    timed_pipe "$T/cx.$i" 'age -d -i "$AGE_KEY" "$AGE_OUT"' 'zstd -d -q' 'tar -C "$RESTORE_TAR" -xf -'
    record_run cx "$T/cx.$i.sum" "$(sizeof "$RESTORE_TAR")"
    done_with "$RESTORE_TAR"
done
summarise c "c. tar \| zstd -3 -T0 \| age → local file" "$IN_BYTES"
summarise cs "c. + \`sync FILE\` (fsync, as the local target does)" "$IN_BYTES"
summarise d "d. c. + smbclient put (total)" "$IN_BYTES"
summarise dp "d. smbclient put alone (input: the .age file)" "$(sizeof "$AGE_OUT")"
summarise cv "e. ref: age -d \| zstd -d \| tar -t" "$IN_BYTES"
summarise cx "e. ref: age -d \| zstd -d \| tar -x" "$IN_BYTES"
rm -f "$AGE_OUT"

# --- f. memory bound ------------------------------------------------------------------------------
if [ "$BIG_N" -gt 0 ]; then
    CFG_B=$WORK/cfg-big/settings.toml
    rm -rf "$WORK/cfg-big"
    mkdir -p "$WORK/cfg-big"
    printf 'unused\n' | azs --config "$CFG_B" configure -q --path "$OUT/big" --username bench \
        --password-stdin --encryption-cert-path "$CER" --source "data=$BIG"
    warm_up "$BIG"
    LAST_ID=
    for i in $(seq "$RUNS"); do
        [ -n "$LAST_ID" ] && rm -rf "$OUT/big/MASBackup/$LAST_ID"
        log "f. azs-backup start-backup of the larger data set (N_LARGE=$BIG_N), run $i"
        timed "$T/f.$i" env HOME="$ISO_HOME" "$BIN" --config "$CFG_B" start-backup --json >"$T/f.$i.json"
        LAST_ID=$(backup_id "$T/f.$i.json")
        record_run f "$T/f.$i" "$(sizeof "$OUT/big/MASBackup/$LAST_ID")"
    done
    summarise f "f. azs-backup → local dir, N_LARGE=$BIG_N" "$BIG_BYTES"
    rm -rf "$OUT/big/MASBackup/$LAST_ID"
fi

# --- 5. report ------------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
{
    echo "| case | input MiB | seconds | MiB/s of input | CPU s (user+sys) | peak RSS MiB | output MiB |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    while IFS=$'\t' read -r key label wall cpu rss out in; do
        L=$label awk -v w="$wall" -v c="$cpu" -v r="$rss" -v o="$out" -v i="$in" -v k="$key" 'BEGIN {
            l = ENVIRON["L"]; outs = (k == "ev" || k == "cv") ? "–" : sprintf("%.0f", o / 1048576)
            printf "| %s | %.0f | %.1f | %.0f | %.1f | %.1f | %s |\n", l, i / 1048576, w, i / 1048576 / w, c, r / 1024, outs }'
    done < <(for k in a b c cs d dp ev cv er cx f; do awk -F'\t' -v k="$k" '$1 == k' "$T/results"; done)
    echo
    echo "Best of $RUNS runs by wall time (warm page cache); peak RSS is the highest of the runs."
    [ "$BUSY_RUNS" -eq 0 ] || echo "**$BUSY_RUNS timed runs started while other processes kept the CPUs busy: numbers are pessimistic.**"
    echo "Restores (e.) write to $([ "$RESTORE_ON" = tmpfs ] && echo "a tmpfs" || echo "$RESTORE, on disk")."
    echo "Data: gen_data.py seed $SEED, $(sed -n 2p "$DATA.digest")."
    if [ "$BIG_N" -gt 0 ]; then
        a_rss=$(awk -F'\t' '$1 == "a" {print $5}' "$T/results")
        f_rss=$(awk -F'\t' '$1 == "f" {print $5}' "$T/results")
        echo "Memory bound: peak RSS $(mib $((a_rss * 1024))) MiB for $(mib "$IN_BYTES") MiB of data," \
            "$(mib $((f_rss * 1024))) MiB for $(mib "$BIG_BYTES") MiB (N_LARGE=$BIG_N)."
    fi
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r);" \
        "WORKDIR on $(df -hP "$WORK" | awk 'NR == 2 {print $1 ", " $2 " (" $4 " free)"}'), $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo '?')."
    echo "azs-backup: $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (src modified)');" \
        "$(tar --version | head -n1), zstd $(zstd -V | sed -n 's/.*v\([0-9.]*\).*/\1/p'), age $(age --version), smbclient $(smbclient --version | awk '{print $2}')."
    echo
    echo "Stages of the best run of c. (GNU time per process):"
    echo
    best_c=$(sort -n -k1,1 "$T/c.runs" | head -n1 | cut -d' ' -f1)
    for i in $(seq "$RUNS"); do
        if [ "$(tail -n1 "$T/c.$i.sum" | cut -d' ' -f1)" = "$best_c" ]; then
            sed 's/^/    /' "$T/c.stages.$i"
            break
        fi
    done
} | tee "$WORK/results.md"
log "results in $WORK/results.md"
