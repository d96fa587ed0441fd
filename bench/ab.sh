#!/usr/bin/env bash
# A/B comparison of azs-backup with the pipeline an operator would script (issue 12), run
# alternately in one run so that both sides see the same machine load:
#
#   bench/ab.sh DATA WORK [ROUNDS]        (as root: WORK/t becomes a tmpfs)
#
#   backup  level L:  azs-backup start-backup            vs  tar -cf - . | zstd -L -T2 | age -r R > F
#   restore:          azs-backup restore --key           vs  age -d | zstd -d | tar -x
#   verify:           azs-backup verify --key            vs  age -d | zstd -d | tar -t
#
# Outputs and restores go to a tmpfs (WORK/t), so that neither side waits for a disk; the data
# set (DATA, from gen_data.py) is read from the page cache (warmed first). Each case runs
# ROUNDS times (default 5) as A B A B ...; the table gives the median wall time, the median
# CPU time (user+sys), the highest peak RSS (/usr/bin/time -v; for a pipeline: its largest
# process) and the ratio of the medians. Before the timed backups of each level, each binary
# makes one untimed backup (its first: see backup_azs below); the table then gives the time of
# the first one too ("first backup").
#
# Environment: LEVELS (default "1 3"), CURVE=1 also measures the level curve (one azs-backup
# backup per level in CURVE_LEVELS, default "1 2 3 4 5 6 7 9 12"), AZS_BIN (default
# target/release/azs-backup), AZS_BIN_BASE (a second azs-backup binary, e.g. built from an
# earlier commit: each case then also runs it, alternating A B A' ..., and the table gives
# its rows and ratios too).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DATA=$(cd "${1:?DATA}" && pwd)
WORK=${2:?WORK}
ROUNDS=${3:-5}
LEVELS=${LEVELS:-1 3}
BIN=${AZS_BIN:-$REPO/target/release/azs-backup}
BASE=${AZS_BIN_BASE:-}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
T=$WORK/t
mkdir -p "$T"
mountpoint -q "$T" || mount -t tmpfs -o size=6g,mode=0755 azs-ab "$T"
cleanup() { umount "$T" 2>/dev/null || umount -l "$T" 2>/dev/null || true; }
trap cleanup EXIT
HOME_DIR=$WORK/home
rm -rf "$HOME_DIR" "$WORK/cfg" "$WORK/certs" "$WORK/results"
mkdir -p "$HOME_DIR" "$WORK/results"
export HOME=$HOME_DIR
azs() { "$BIN" --config "$WORK/cfg/settings.toml" "$@"; }

"$BIN" new-cert --dns-name bench.contoso.com --out-dir "$WORK/certs" --no-pfx >/dev/null
CER=$WORK/certs/bench.contoso.com.cer
PEM=$WORK/certs/bench.contoso.com.pem
rm -f "$WORK/age.key"
age-keygen -o "$WORK/age.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/age.key")
echo pw | azs configure --path "$T/out" --username u --password-stdin \
    --encryption-cert-path "$CER" --source "data=$DATA" --no-verify >/dev/null
tar -C "$DATA" -cf - . | cat >/dev/null # warm the page cache

# run NAME CMD...: one timed run; appends "wall cpu rss_kib" to results/NAME.
run() {
    local name=$1
    shift
    sync
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/err.out" || {
        cat "$WORK/err.out" >&2
        return 1
    }
    tail -n1 "$WORK/time.out" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >>"$WORK/results/$name"
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$WORK/results/$1"; }
row() { # row LABEL NAME
    printf '| %s | %s | %s | %.1f |\n' "$1" "$(col "$2" 1 | median)" "$(col "$2" 2 | median)" \
        "$(col "$2" 3 | sort -n | tail -n1 | awk '{print $1 / 1024}')"
}
ratio() { # ratio A B: median(A) / median(B), wall and CPU
    printf '%.2f (CPU %.2f)' "$(echo "$(col "$1" 1 | median) / $(col "$2" 1 | median)" | bc -l)" \
        "$(echo "$(col "$1" 2 | median) / $(col "$2" 2 | median)" | bc -l)"
}

# backup_azs NAME [BINARY]: each binary has its own copy of the settings and state, so that
# neither drops what the other records (an older binary does not keep state fields it does not
# know, such as the remembered source sizes).
backup_azs() {
    local bin=${2:-$BIN} cfg=$WORK/cfg/settings.toml
    [ "$bin" = "$BIN" ] || cfg=$WORK/cfg-base/settings.toml
    rm -rf "$T/out"
    mkdir -p "$T/out"
    run "$1" "$bin" --config "$cfg" start-backup --json
}
backup_ref() {
    rm -f "$T/ref.age"
    run "$1" bash -c "tar -C '$DATA' -cf - . | zstd -$2 -T2 -q | age -r $RECIPIENT > '$T/ref.age'"
}

{
    echo "# bench/ab.sh $(date -u +%FT%TZ), $ROUNDS rounds, $(nproc) CPUs, $(git -C "$REPO" rev-parse --short HEAD)"
    echo
    echo "| case | median s | median CPU s | peak RSS MiB |"
    echo "| --- | ---: | ---: | ---: |"
} >"$WORK/table.md"
RATIOS=()
[ -z "$BASE" ] || { rm -rf "$WORK/cfg-base" && cp -a "$WORK/cfg" "$WORK/cfg-base"; }
FIRST_LEVEL=${LEVELS%% *}
for L in $LEVELS; do
    azs configure --compression-level "$L" --no-verify >/dev/null
    [ -z "$BASE" ] || "$BIN" --config "$WORK/cfg-base/settings.toml" configure --compression-level "$L" --no-verify >/dev/null
    if [ "$L" = "$FIRST_LEVEL" ]; then
        # Not in the medians: the first backup of a source walks it for the capacity check's
        # estimate (docs/SCHEDULING.md); the backups after it take the estimate from the state.
        [ -z "$BASE" ] || backup_azs "first-base-backup" "$BASE"
        backup_azs "first-azs-backup"
    fi
    for _ in $(seq "$ROUNDS"); do
        [ -z "$BASE" ] || backup_azs "base-backup-$L" "$BASE"
        backup_ref "ref-backup-$L" "$L"
        backup_azs "azs-backup-$L"
    done
    row "azs-backup start-backup, level $L" "azs-backup-$L" >>"$WORK/table.md"
    [ -z "$BASE" ] || row "base azs-backup start-backup, level $L" "base-backup-$L" >>"$WORK/table.md"
    row "tar \| zstd -$L -T2 \| age" "ref-backup-$L" >>"$WORK/table.md"
    [ "$L" != "$FIRST_LEVEL" ] || row "azs-backup start-backup, level $L, the source's first (one run: walks the source)" first-azs-backup >>"$WORK/table.md"
    RATIOS+=("backup level $L: $(ratio "azs-backup-$L" "ref-backup-$L")")
    [ -z "$BASE" ] || RATIOS+=("base backup level $L: $(ratio "base-backup-$L" "ref-backup-$L"); this ÷ base: $(ratio "azs-backup-$L" "base-backup-$L")")
done
# Restores and verifies of the last level's outputs. Before each timed restore, either side,
# 1.5 GiB is written to the tmpfs and deleted: on a VM that hands freed memory back to its
# host (virtio-balloon free page reporting), a restore that starts seconds after the last
# deletion writes into pages the host must fault in again, and which side paid for that
# depended on the order of the runs (restore ratios from 0.58 to 1.41 on one VM;
# docs/BENCHMARKS.md, seventh pass). After the write and delete, both meet pages that are
# there. The verifies follow in a loop of their own.
prefault() {
    rm -rf "$T/r"
    head -c 1536M /dev/zero >"$T/fill"
    rm -f "$T/fill"
}
ID=$(azs list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][0]["backupId"])')
for _ in $(seq "$ROUNDS"); do
    prefault
    run azs-restore "$BIN" --config "$WORK/cfg/settings.toml" restore "$ID" --key "$PEM" --to "$T/r"
    prefault
    mkdir -p "$T/r"
    run ref-restore bash -c "age -d -i '$WORK/age.key' '$T/ref.age' | zstd -d -q | tar -C '$T/r' -xf -"
    if [ -n "$BASE" ]; then
        prefault
        run base-restore "$BASE" --config "$WORK/cfg/settings.toml" restore "$ID" --key "$PEM" --to "$T/r"
    fi
done
rm -rf "$T/r"
for _ in $(seq "$ROUNDS"); do
    [ -z "$BASE" ] || run base-verify "$BASE" --config "$WORK/cfg/settings.toml" verify "$ID" --key "$PEM"
    run azs-verify "$BIN" --config "$WORK/cfg/settings.toml" verify "$ID" --key "$PEM"
    run ref-verify bash -c "age -d -i '$WORK/age.key' '$T/ref.age' | zstd -d -q | tar -tf - >/dev/null"
done
{
    row "azs-backup restore --key" azs-restore
    [ -z "$BASE" ] || row "base azs-backup restore --key" base-restore
    row "age -d \| zstd -d \| tar -x" ref-restore
    row "azs-backup verify --key" azs-verify
    [ -z "$BASE" ] || row "base azs-backup verify --key" base-verify
    row "age -d \| zstd -d \| tar -t" ref-verify
    echo
    echo "Ratios (azs-backup ÷ reference, medians):"
    for r in "${RATIOS[@]}"; do echo "- $r"; done
    echo "- restore: $(ratio azs-restore ref-restore)"
    echo "- verify --key: $(ratio azs-verify ref-verify)"
    if [ -n "$BASE" ]; then
        echo "- base restore: $(ratio base-restore ref-restore); this ÷ base: $(ratio azs-restore base-restore)"
        echo "- base verify --key: $(ratio base-verify ref-verify); this ÷ base: $(ratio azs-verify base-verify)"
    fi
} >>"$WORK/table.md"

if [ "${CURVE:-0}" = 1 ]; then
    {
        echo
        echo "| level | s | CPU s | peak RSS MiB | output bytes |"
        echo "| ---: | ---: | ---: | ---: | ---: |"
    } >>"$WORK/table.md"
    for L in ${CURVE_LEVELS:-1 2 3 4 5 6 7 9 12}; do
        azs configure --compression-level "$L" --no-verify >/dev/null
        backup_azs "curve-$L"
        size=$(find "$T/out" -name '*.enc' -printf '%s\n' | awk '{s += $1} END {print s}')
        printf '| %s | %s | %s | %.1f | %s |\n' "$L" "$(col "curve-$L" 1)" "$(col "curve-$L" 2)" \
            "$(col "curve-$L" 3 | awk '{print $1 / 1024}')" "$size" >>"$WORK/table.md"
    done
fi
rm -rf "$T/out" "$T/r" "$T/ref.age"
cat "$WORK/table.md"
