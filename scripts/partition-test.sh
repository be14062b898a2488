#!/bin/bash
# The reference design's shopping cart under a partition, made exact: three
# daemons (mobile, web, backend) on loopback with the simulation shim at 10%
# loss and 20-80 ms latency; the story and the values CRDT semantics predict
# are in scripts/cart-scenario.sh.  Exits non-zero, printing what differed,
# when any node ends with another value.
set -eu

usage() {
	cat <<'EOF'
usage: partition-test.sh [--crdtd PATH | --build DIR] [--loss P] [--latency MIN-MAX]
                         [--seed S] [--base-port P] [--deltas yes|no] [--keep]

  --crdtd PATH       the daemon (default: $CRDTD, else build/src/daemon/crdtd)
  --build DIR        take the daemon from DIR/src/daemon/crdtd
  --loss P           shim loss on every node (default 0.1)
  --latency MIN-MAX  shim latency in ms (default 20-80)
  --seed S           shim seed (default 1)
  --base-port P      UDP ports P.., client ports P+1000.. (default: auto, a free block)
  --deltas yes|no    [gossip] deltas on every node (default yes; no: full state only)
  --keep             keep the run directory (configs, logs) afterwards
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
crdtd=${CRDTD:-$here/../build/src/daemon/crdtd}
loss=0.1
latency=20-80
seed=1
base=auto
deltas=yes
keep=no
while [ $# -gt 0 ]; do
	case "$1" in
	--crdtd) crdtd=$2; shift ;;
	--build) crdtd=$2/src/daemon/crdtd; shift ;;
	--loss) loss=$2; shift ;;
	--latency) latency=$2; shift ;;
	--seed) seed=$2; shift ;;
	--base-port) base=$2; shift ;;
	--deltas) deltas=$2; shift ;;
	--keep) keep=yes ;;
	-h|--help) usage; exit 0 ;;
	*) echo "partition-test.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

run=$(mktemp -d /tmp/crdtd-partition-XXXXXX)
cleanup() {
	local rc=$?
	"$here/cluster.sh" stop --dir "$run" >/dev/null || true
	if [ "$rc" -ne 0 ]; then
		for n in mobile web backend; do
			echo "---- last lines of $n's log ----" >&2
			tail -n 15 "$run/$n.log" >&2 2>/dev/null || true
		done
	fi
	[ "$keep" = yes ] && echo "run directory kept: $run" || rm -rf "$run"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/cluster.sh" start 3 --dir "$run" --names mobile,web,backend --base-port "$base" \
	--interval 100 --loss "$loss" --latency "$latency" --seed "$seed" --deltas "$deltas" \
	--crdtd "$crdtd"

declare -A port
while read -r name cport _; do port[$name]=$cport; done <"$run/nodes.txt"

cli() {
	local n=$1
	shift
	redis-cli -p "${port[$n]}" --raw "$@"
}
partition_mobile() {
	# the shim filters both directions on mobile: one side is enough
	[ "$(cli mobile CRDT.SIM PARTITION web backend)" = OK ]
}
heal() {
	[ "$(cli mobile CRDT.SIM HEAL)" = OK ]
}

. "$here/cart-scenario.sh"
echo "shim: loss $loss, latency $latency ms, seed $seed"
cart_scenario 30
for n in mobile web backend; do
	cli "$n" INFO simulation | grep -E '^sim_(dropped_loss|dropped_partition|delayed):' |
		tr -d '\r' | tr '\n' ' ' | sed "s/^/   $n: /"
	echo
done
