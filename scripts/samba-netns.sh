#!/usr/bin/env bash
# A throwaway Samba server in a network namespace of its own, reached over a veth pair: a share
# "in a separate location" whose link a test can take down mid-upload.
#
#   scripts/samba-netns.sh start DIR       namespace + veth + smbd (scripts/samba-server.sh inside)
#   scripts/samba-netns.sh link-down DIR   take the host side of the link down
#   scripts/samba-netns.sh link-up DIR     and up again
#   scripts/samba-netns.sh restart DIR     restart smbd (drops every session), same port
#   scripts/samba-netns.sh stop DIR        stop smbd, delete the link and the namespace
#
# The namespace, the link and both addresses (10.213.N.1 on the host side, 10.213.N.2 for smbd,
# a /30 that exists only between this host and the namespace) are made here and removed by
# `stop`; no traffic leaves the machine. DIR/env is as for samba-server.sh (AZS_TEST_SMB_HOST is
# the namespace's address); DIR/netns.env names the namespace and the host-side interface.
# Needs root and iproute2.
set -euo pipefail

die() {
    echo "samba-netns.sh: $*" >&2
    exit 1
}

[ $# -eq 2 ] && [ -n "$2" ] || die "usage: $0 start|stop|link-down|link-up DIR"
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
NETENV=$DIR/netns.env

case $cmd in
start)
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    command -v ip >/dev/null || die "ip (iproute2) is missing"
    n=$((RANDOM % 250 + 1))
    ns=azsb$$
    hif=azsb$$h
    nif=azsb$$n
    ip netns add "$ns"
    printf 'NS=%s\nHIF=%s\nBIND=10.213.%s.2\n' "$ns" "$hif" "$n" >"$NETENV"
    ip link add "$hif" type veth peer name "$nif"
    ip link set "$nif" netns "$ns"
    ip addr add "10.213.$n.1/30" dev "$hif"
    ip link set "$hif" up
    ip netns exec "$ns" ip addr add "10.213.$n.2/30" dev "$nif"
    ip netns exec "$ns" ip link set "$nif" up
    ip netns exec "$ns" ip link set lo up
    AZS_TEST_SMB_BIND="10.213.$n.2" AZS_TEST_SMB_TINY_MIB=1 \
        ip netns exec "$ns" bash "$HERE/samba-server.sh" start "$DIR"
    ;;
link-down | link-up)
    # shellcheck disable=SC1090
    . "$NETENV"
    ip link set "$HIF" "${cmd#link-}"
    ;;
restart)
    # shellcheck disable=SC1090
    . "$NETENV"
    AZS_TEST_SMB_BIND=$BIND ip netns exec "$NS" bash "$HERE/samba-server.sh" restart "$DIR"
    ;;
stop)
    [ -s "$NETENV" ] || exit 0
    # shellcheck disable=SC1090
    . "$NETENV"
    AZS_TEST_SMB_BIND=$BIND ip netns exec "$NS" bash "$HERE/samba-server.sh" stop "$DIR" || true
    ip link del "$HIF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -f "$NETENV"
    ;;
*) die "unknown command $cmd" ;;
esac
