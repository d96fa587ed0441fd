#!/usr/bin/env bash
# Upload to (and read back from) a share in "another site": azs-backup's SMB upload rate
# compared with `smbclient put` of the same bytes, and its read rate with `smbclient get`, all
# through a TCP proxy on loopback that adds a fixed latency in each direction
# (bench/latency_proxy.py, 10 ms by default, so 20 ms per round trip).
#
#   bash bench/smb-latency.sh [WORKDIR]      (default /tmp/azs-latency; run as root)
#
# Environment:
#   AZS_BENCH_GEN       gen_data.py (default ../shared/bench/gen_data.py beside the repository)
#   AZS_BENCH_SEED      data set seed (default 20240601)
#   AZS_BENCH_DATA      a data set to use instead of WORKDIR/data (not generated)
#   AZS_BENCH_RUNS      runs of each case, alternating A B A B (default 3); medians are reported
#   AZS_BENCH_DELAY_MS  one-way latency of the proxy (default 10); 0: no proxy, straight to smbd
#                       on loopback (issue 12's target 5, with AZS_BENCH_PIPELINE=1)
#   AZS_BENCH_PIPELINE  1: add case P, `tar | zstd -L -T2 | age -r R > F` then `smbclient put F`
#                       (L = AZS_BENCH_LEVEL, else 1, the tool's default); target 5 is A <= 0.55 x P
#   AZS_BENCH_LEVEL     zstd level of the backups (default: the tool's default)
#   AZS_BIN             the azs-backup binary (default: target/release/azs-backup, built first)
#   AZS_BIN_BASE        a second binary (e.g. built from an earlier commit): case A0, the same
#                       upload with it, alternating with A, for an A/B comparison in one run
#   AZS_BENCH_SMB2_PROTO 1: add case X, the prototype of bench/smb2-proto (built first)
#   AZS_BENCH_SIGNING   1: the server requires every request to be signed
#
# Cases, alternating:
#   L  azs-backup start-backup to a local folder (no network: what the CPU allows)
#   A  azs-backup start-backup to smb://127.0.0.1:PROXY/backups/lat (through the proxy)
#   B  smbclient put of the archive that A wrote (the same bytes), through the same proxy
#   X  (AZS_BENCH_SMB2_PROTO=1) the same bytes uploaded with a backup's requests by another
#      SMB client, the pure-Rust `smb2` crate (bench/smb2-proto: the network side alone)
#   V  azs-backup verify --key of that backup from the share, through the proxy (it reads,
#      decrypts and decompresses the whole archive: a restore without the writing)
#   V0 (AZS_BIN_BASE) the same verify with the base binary
#   G  smbclient get of the archive to /dev/null, through the same proxy
#   P  (AZS_BENCH_PIPELINE=1) the pipeline an operator would script, then smbclient put
# The upload rate of a case is the archive's size divided by its wall time. The target (issue
# 12) is A >= 0.8 x B. Prints a Markdown table; the numbers of each run are in WORKDIR/times.
# Its last column is the proxy's CPU time while the case ran (from /proc): the proxy shares the
# machine's cores with the programs it measures.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/azs-latency}
GEN=${AZS_BENCH_GEN:-$REPO/../shared/bench/gen_data.py}
SEED=${AZS_BENCH_SEED:-20240601}
RUNS=${AZS_BENCH_RUNS:-3}
DELAY=${AZS_BENCH_DELAY_MS:-10}
LEVEL=${AZS_BENCH_LEVEL:-}

log() { printf '\033[1m[latency]\033[0m %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (it starts a Samba server)"
for c in smbd smbclient python3 /usr/bin/time; do
    command -v "$c" >/dev/null || die "$c is missing (bench/run.sh installs what both scripts need)"
done

mkdir -p "$WORK"
chmod 755 "$WORK"
DATA=$WORK/data SMB=$WORK/smb T=$WORK/times HOME_DIR=$WORK/home OUT=$WORK/local
rm -rf "$T" "$HOME_DIR" "$OUT" "$WORK/cfg-l" "$WORK/cfg-s" "$WORK/cert"
mkdir -p "$T" "$HOME_DIR/.smb" "$OUT" "$WORK/cfg-l" "$WORK/cfg-s"
: >"$HOME_DIR/.smb/smb.conf"
: >"$WORK/smbclient.conf"

PROXY_PID=
cleanup() {
    local rc=$?
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
    bash "$REPO/scripts/samba-server.sh" stop "$SMB" >/dev/null 2>&1 || true
    rm -rf "$OUT" "$SMB/share/backups/lat" 2>/dev/null || true
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${AZS_BENCH_DATA:-}" ]; then
    DATA=$AZS_BENCH_DATA
elif [ ! -s "$DATA.done" ]; then
    rm -rf "$DATA"
    log "generating $DATA: python3 $GEN $DATA $SEED"
    python3 "$GEN" "$DATA" "$SEED" >"$DATA.done"
fi

if [ -z "${AZS_BIN:-}" ]; then
    log "building: cargo build --release"
    (cd "$REPO" && cargo build --release -q)
fi
BIN=${AZS_BIN:-$REPO/target/release/azs-backup}
PROTO=
if [ -n "${AZS_BENCH_SMB2_PROTO:-}" ]; then
    log "building the smb2 prototype: cargo build --release (bench/smb2-proto)"
    cargo build --release -q --manifest-path "$REPO/bench/smb2-proto/Cargo.toml"
    PROTO=$REPO/bench/smb2-proto/target/release/smb2-proto
fi
BASE=${AZS_BIN_BASE:-}
azs() { env HOME="$HOME_DIR" "$BIN" "$@"; }

bash "$REPO/scripts/samba-server.sh" start "$SMB" >&2
# shellcheck disable=SC1091
. "$SMB/env"
install -d -o "$AZS_TEST_SMB_USER" "$SMB/share/backups/lat"
if [ -n "${AZS_BENCH_SIGNING:-}" ]; then
    # Every request signed, as newer Windows servers require by default; smbd rereads its
    # configuration on SIGHUP, for the connections that come after.
    sed -i 's/^\[global\]$/[global]\n    server signing = mandatory/' "$SMB/smb.conf"
    grep -q '^    server signing = mandatory$' "$SMB/smb.conf" || die "cannot require signing"
    kill -HUP "$(cat "$AZS_TEST_SMB_PIDFILE")"
    sleep 1
    log "the server requires signing"
fi

VIA="through the proxy"
if [ "$DELAY" = 0 ]; then
    VIA="straight to smbd"
    PPORT=$AZS_TEST_SMB_PORT
    log "no proxy: straight to smbd on 127.0.0.1:$PPORT"
else
    PPORT=$((20000 + RANDOM % 40000))
    coproc PROXY { exec python3 "$REPO/bench/latency_proxy.py" "$PPORT" 127.0.0.1 "$AZS_TEST_SMB_PORT" "$DELAY"; }
    PROXY_PID=$PROXY_PID
    read -r ready _ <&"${PROXY[0]}"
    [ "$ready" = ready ] || die "the proxy did not start"
    log "proxy 127.0.0.1:$PPORT -> smbd 127.0.0.1:$AZS_TEST_SMB_PORT, ${DELAY} ms each way"
fi
# The proxy's CPU time (clock ticks) while a case runs goes to T/CASE.pcpu.RUN: on two cores
# it is taken from the programs measured.
proxy_ticks() {
    if [ -n "$PROXY_PID" ]; then
        awk '{print $14 + $15}' "/proc/$PROXY_PID/stat"
    else
        echo 0
    fi
}
run_case() {
    local c=$1 i=$2 t0 rc=0
    shift 2
    t0=$(proxy_ticks)
    "$@" || rc=$?
    echo $(($(proxy_ticks) - t0)) >"$T/$c.pcpu.$i"
    return $rc
}
PIPELINE=${AZS_BENCH_PIPELINE:-}
if [ -n "$PIPELINE" ]; then
    command -v age-keygen >/dev/null || die "age is missing (apt-get install age)"
    rm -f "$WORK/age.key"
    age-keygen -o "$WORK/age.key" 2>/dev/null
    RECIPIENT=$(age-keygen -y "$WORK/age.key")
fi

azs new-cert --dns-name lat.azs-backup.test --out-dir "$WORK/cert" --no-pfx -q
CER=$WORK/cert/lat.azs-backup.test.cer
level=()
[ -n "$LEVEL" ] && level=(--compression-level "$LEVEL")
printf 'unused\n' | azs --config "$WORK/cfg-l/settings.toml" configure -q --path "$OUT" \
    --username bench --password-stdin --encryption-cert-path "$CER" --source "data=$DATA" "${level[@]}"
printf '%s\n' "$AZS_TEST_SMB_PASSWORD" | azs --config "$WORK/cfg-s/settings.toml" configure -q \
    --path "smb://127.0.0.1:$PPORT/backups/lat" --username "$AZS_TEST_SMB_USER" --password-stdin \
    --encryption-cert-path "$CER" --source "data=$DATA" "${level[@]}"

log "warm-up read of the data set"
tar -C "$DATA" -cf - . | cat >/dev/null

# Removes the backups of earlier runs but keeps MASBackup, as on a target in use: the first
# backup to a target, which makes MASBackup, is the exception (it costs a few requests more).
clear_backups() { find "$1/MASBackup" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true; }

last_archive() { find "$SMB/share/backups/lat/MASBackup" -name 'data.tar.zst.enc' -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2-; }

for i in $(seq "$RUNS"); do
    log "run $i: L (local)"
    clear_backups "${OUT:?}"
    run_case L "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/L.$i" env HOME="$HOME_DIR" "$BIN" --config "$WORK/cfg-l/settings.toml" start-backup -q
    log "run $i: A (azs-backup over the proxy)"
    clear_backups "$SMB/share/backups/lat"
    run_case A "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/A.$i" env HOME="$HOME_DIR" "$BIN" --config "$WORK/cfg-s/settings.toml" start-backup -q
    if [ -n "$BASE" ]; then
        log "run $i: A0 (the base binary over the proxy)"
        clear_backups "$SMB/share/backups/lat"
        run_case A0 "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/A0.$i" env HOME="$HOME_DIR" "$BASE" --config "$WORK/cfg-s/settings.toml" start-backup -q
    fi
    ARCHIVE=$(last_archive)
    BYTES=$(stat -c %s "$ARCHIVE")
    cp "$ARCHIVE" "$WORK/archive.bin"
    echo "$BYTES" >"$T/bytes.$i"
    log "run $i: B (smbclient put of the same $BYTES bytes over the proxy)"
    run_case B "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/B.$i" smbclient --configfile="$WORK/smbclient.conf" \
        "//127.0.0.1/backups" -p "$PPORT" -A "$SMB/smbclient.auth" \
        -c "put $WORK/archive.bin lat/put.bin" >"$T/B.$i.out" 2>&1 || {
        cat "$T/B.$i.out" >&2
        die "smbclient put failed"
    }
    rm -f "$SMB/share/backups/lat/put.bin"
    if [ -n "$PROTO" ]; then
        log "run $i: X (the smb2 prototype uploads the same bytes over the proxy)"
        run_case X "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/X.$i" env ADDR="127.0.0.1:$PPORT" \
            SMB_USER="$AZS_TEST_SMB_USER" SMB_PASSWORD="$AZS_TEST_SMB_PASSWORD" SMB_SHARE=backups \
            DIR=lat FILE="$WORK/archive.bin" "$PROTO" 2>"$T/X.$i.out" || {
            cat "$T/X.$i.out" >&2
            die "the smb2 prototype failed"
        }
        cat "$T/X.$i.out" >&2
        find "$SMB/share/backups/lat/MASBackup" -mindepth 1 -maxdepth 1 -name 'proto-*' -exec rm -rf {} +
    fi
    rm -f "$WORK/archive.bin"
    # Reading back: verify --key reads, decrypts and decompresses the whole archive (restore
    # without the writing), against smbclient get of the same file.
    ID=$(basename "$(dirname "$ARCHIVE")")
    KEY=$WORK/cert/lat.azs-backup.test.pem
    log "run $i: V (azs-backup verify --key over the proxy)"
    run_case V "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/V.$i" env HOME="$HOME_DIR" "$BIN" --config "$WORK/cfg-s/settings.toml" verify "$ID" --key "$KEY" -q
    if [ -n "$BASE" ]; then
        log "run $i: V0 (the base binary's verify --key over the proxy)"
        run_case V0 "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/V0.$i" env HOME="$HOME_DIR" "$BASE" --config "$WORK/cfg-s/settings.toml" verify "$ID" --key "$KEY" -q
    fi
    log "run $i: G (smbclient get of the archive over the proxy)"
    REL=${ARCHIVE#"$SMB/share/backups/"}
    run_case G "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/G.$i" smbclient --configfile="$WORK/smbclient.conf" \
        "//127.0.0.1/backups" -p "$PPORT" -A "$SMB/smbclient.auth" \
        -c "get $REL /dev/null" >"$T/G.$i.out" 2>&1 || {
        cat "$T/G.$i.out" >&2
        die "smbclient get failed"
    }
    if [ -n "$PIPELINE" ]; then
        log "run $i: P (tar | zstd -${LEVEL:-1} -T2 | age, then smbclient put)"
        run_case P "$i" /usr/bin/time -f '%e %U %S %M' -o "$T/P.$i" bash -c "tar -C '$DATA' -cf - . | zstd -${LEVEL:-1} -T2 -q | age -r $RECIPIENT > '$WORK/p.age' && smbclient --configfile='$WORK/smbclient.conf' //127.0.0.1/backups -p $PPORT -A '$SMB/smbclient.auth' -c 'put $WORK/p.age lat/p.age'" >"$T/P.$i.out" 2>&1 || {
            cat "$T/P.$i.out" >&2
            die "the pipeline failed"
        }
        rm -f "$SMB/share/backups/lat/p.age" "$WORK/p.age"
    fi
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { for i in $(seq "$RUNS"); do tail -n1 "$T/$1.$i" | cut -d' ' -f"$2"; done | median; }
BYTES=$(for i in $(seq "$RUNS"); do cat "$T/bytes.$i"; done | median)
A=$(col A 1) B=$(col B 1) V=$(col V 1) G=$(col G 1)
[ -z "$BASE" ] || { A0=$(col A0 1) V0=$(col V0 1); }
[ -z "$PROTO" ] || X=$(col X 1)
[ -z "$PIPELINE" ] || P=$(col P 1)
TCK=$(getconf CLK_TCK)
pcpu() {
    if [ -n "$PROXY_PID" ]; then
        for i in $(seq "$RUNS"); do cat "$T/$1.pcpu.$i"; done | median | awk -v t="$TCK" '{printf "%.2f", $1 / t}'
    else
        echo "-"
    fi
}
rate() { awk -v b="$BYTES" -v t="$1" 'BEGIN {printf "%.1f", b / t / 1048576}'; }
# row CASE LABEL: one table row, the medians of CASE's runs.
row() {
    local t
    t=$(col "$1" 1)
    echo "| $2 | $t | $(rate "$t") | $(col "$1" 4 | awk '{printf "%.0f", $1 / 1024}') | $(pcpu "$1") |"
}
{
    echo "| case (${DELAY} ms each way, medians of $RUNS) | wall s | MiB/s of archive | peak RSS MiB | proxy CPU s |"
    echo "| --- | --- | --- | --- | --- |"
    row L "L: azs-backup to a local folder"
    row A "A: azs-backup to the share $VIA"
    [ -z "$BASE" ] || row A0 "A0: the base binary ($BASE) to the share $VIA"
    row B "B: smbclient put of the same bytes $VIA"
    [ -z "$PROTO" ] || row X "X: the smb2 prototype, the same bytes with a backup's requests $VIA"
    [ -z "$PIPELINE" ] || row P "P: tar \\| zstd -${LEVEL:-1} -T2 \\| age, then smbclient put"
    row V "V: azs-backup verify --key from the share $VIA"
    [ -z "$BASE" ] || row V0 "V0: the base binary's verify --key from the share $VIA"
    row G "G: smbclient get of the archive $VIA"
    echo
    awk -v a="$A" -v b="$B" 'BEGIN {printf "A rate / B rate = %.2f (target >= 0.8)\n", b / a}'
    awk -v v="$V" -v g="$G" 'BEGIN {printf "V rate / G rate = %.2f (reading back)\n", g / v}'
    [ -z "$BASE" ] || awk -v v="$V0" -v g="$G" 'BEGIN {printf "V0 rate / G rate = %.2f\n", g / v}'
    [ -z "$BASE" ] || awk -v a="$A0" -v b="$B" 'BEGIN {printf "A0 rate / B rate = %.2f\n", b / a}'
    [ -z "$PROTO" ] || awk -v x="$X" -v b="$B" 'BEGIN {printf "X rate / B rate = %.2f (the network side alone)\n", b / x}'
    [ -z "$PIPELINE" ] || awk -v a="$A" -v p="$P" 'BEGIN {printf "A time / P time = %.2f (target 5, no proxy: <= 0.55)\n", a / p}'
} | tee "$WORK/results.md"
