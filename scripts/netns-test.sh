#!/bin/bash
# The shopping-cart partition test (scripts/cart-scenario.sh) on a real
# network: each daemon in its own Linux network namespace with its own
# address, joined by veth pairs to a bridge in a hub namespace, and the
# faults made by the kernel, not by our shim:
#   - loss: nftables drops a share of the gossip datagrams arriving at each
#     node (numgen random on input; dropping on the sender's output would
#     make sendto fail with EPERM instead);
#   - partition: mobile's input drops everything from web and backend, and
#     theirs everything from mobile;
#   - heal: the partition chains are flushed.
# Needs root, ip (iproute2), nft (nftables) and redis-cli; without them it
# says what is missing and exits 77 (skipped).  Every namespace it made is
# deleted on exit, also on failure.
set -eu

usage() {
	cat <<'EOF'
usage: netns-test.sh [--crdtd PATH | --build DIR] [--loss PERCENT] [--keep]

  --crdtd PATH     the daemon (default: $CRDTD, else build/src/daemon/crdtd)
  --build DIR      take the daemon from DIR/src/daemon/crdtd
  --loss PERCENT   datagrams dropped by the kernel at each receiver (default 10)
  --keep           keep the run directory (configs, logs) afterwards

Exit status: 0 pass, 1 fail, 77 skipped (not root, or tools missing).
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
crdtd=${CRDTD:-$here/../build/src/daemon/crdtd}
loss=10
keep=no
while [ $# -gt 0 ]; do
	case "$1" in
	--crdtd) crdtd=$2; shift ;;
	--build) crdtd=$2/src/daemon/crdtd; shift ;;
	--loss) loss=$2; shift ;;
	--keep) keep=yes ;;
	-h|--help) usage; exit 0 ;;
	*) echo "netns-test.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

skip() { echo "netns-test.sh: SKIP: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and nftables)"
for tool in ip nft redis-cli; do
	command -v "$tool" >/dev/null || skip "$tool is missing (apt-get install iproute2 nftables redis-tools)"
done
[ -x "$crdtd" ] || { echo "netns-test.sh: no daemon at $crdtd" >&2; exit 1; }

nodes=(mobile web backend)
prefix=crdt$$
hub=$prefix-hub
declare -A ns addr pid
made=()
run=$(mktemp -d /tmp/crdtd-netns-XXXXXX)

cleanup() {
	local rc=$? n
	for n in "${nodes[@]}"; do
		[ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null || true
	done
	for n in "${nodes[@]}"; do
		[ -n "${pid[$n]:-}" ] || continue
		for _ in $(seq 1 50); do kill -0 "${pid[$n]}" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "${pid[$n]}" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for n in "${nodes[@]}"; do
			echo "---- last lines of $n's log ----" >&2
			tail -n 15 "$run/$n.log" >&2 2>/dev/null || true
		done
	fi
	for n in "${made[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	[ "$keep" = yes ] && echo "run directory kept: $run" || rm -rf "$run"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Probe before building anything: can we make a namespace here?
if ! ip netns add "$hub" 2>/dev/null; then
	skip "cannot create a network namespace (ip netns add failed: no CAP_SYS_ADMIN?)"
fi
made+=("$hub")
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
i=0
for n in "${nodes[@]}"; do
	i=$((i + 1))
	ns[$n]=$prefix-$n
	addr[$n]=10.77.0.$i
	ip netns add "${ns[$n]}"
	made+=("${ns[$n]}")
	ip link add eth0 netns "${ns[$n]}" type veth peer name "v$i" netns "$hub"
	ip -n "$hub" link set "v$i" master br0
	ip -n "$hub" link set "v$i" up
	ip -n "${ns[$n]}" addr add "${addr[$n]}/24" dev eth0
	ip -n "${ns[$n]}" link set eth0 up
	ip -n "${ns[$n]}" link set lo up
	# loss and partition chains on input (see the top of this file)
	ip netns exec "${ns[$n]}" nft -f - <<EOF
table inet crdt {
	chain part {
	}
	chain input {
		type filter hook input priority 0; policy accept;
		jump part
		udp dport 7946 numgen random mod 100 < $loss counter drop
	}
}
EOF
done

for n in "${nodes[@]}"; do
	mkdir -p "$run/$n"
	{
		echo "[node]"
		echo "name = $n"
		echo "data_dir = $run/$n"
		echo "listen = ${addr[$n]}:7946"
		echo "client = 127.0.0.1:6380"
		echo "[gossip]"
		echo "interval_ms = 100"
		echo "push_delay_ms = 1"
		echo "[peers]"
		for p in "${nodes[@]}"; do
			[ "$p" = "$n" ] || echo "$p = ${addr[$p]}:7946"
		done
	} >"$run/$n.ini"
	ip netns exec "${ns[$n]}" "$crdtd" -c "$run/$n.ini" >"$run/$n.log" 2>&1 </dev/null &
	pid[$n]=$!
done

cli() {
	local n=$1
	shift
	ip netns exec "${ns[$n]}" redis-cli -p 6380 --raw "$@"
}
for n in "${nodes[@]}"; do
	for _ in $(seq 1 100); do
		[ "$(cli "$n" PING 2>/dev/null)" = PONG ] && break
		kill -0 "${pid[$n]}" 2>/dev/null || { echo "netns-test.sh: $n exited" >&2; exit 1; }
		sleep 0.1
	done
	[ "$(cli "$n" PING 2>/dev/null)" = PONG ] || { echo "netns-test.sh: $n does not answer" >&2; exit 1; }
done

partition_mobile() {
	local p
	for p in web backend; do
		ip netns exec "${ns[mobile]}" nft add rule inet crdt part ip saddr "${addr[$p]}" counter drop
		ip netns exec "${ns[$p]}" nft add rule inet crdt part ip saddr "${addr[mobile]}" counter drop
	done
}
heal() {
	local n
	for n in "${nodes[@]}"; do ip netns exec "${ns[$n]}" nft flush chain inet crdt part; done
}

. "$here/cart-scenario.sh"
echo "kernel faults: ${loss}% of gossip datagrams dropped at every receiver; nodes ${addr[mobile]} ${addr[web]} ${addr[backend]}"
cart_scenario 30
for n in "${nodes[@]}"; do
	printf '   %s: kernel dropped %s gossip datagrams at random; %s\n' "$n" \
		"$(ip netns exec "${ns[$n]}" nft list chain inet crdt input | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')" \
		"$(cli "$n" INFO gossip | tr -d '\r' | grep -E '^datagrams_in:')"
done
