#!/bin/bash
# The cost of a durable write must not grow with the instance it touches:
# SADD of new members into an empty set and into a 1,000,000-element set, on
# one crdtd, for each durability mode, measured with redis-benchmark (50
# clients, pipeline 16) in the same run.  Prints a markdown table with the
# ratio big/empty (the aim: within 2x, i.e. >= 0.5).
#   bench/durable-sets.sh [-b BUILD_DIR] [-n REQUESTS] [-s SET_SIZE] [-m "always batch none"]
set -euo pipefail

build=build requests=200000 size=1000000 modes="always batch none"
while getopts "b:n:s:m:h" o; do
	case $o in
	b) build=$OPTARG ;;
	n) requests=$OPTARG ;;
	s) size=$OPTARG ;;
	m) modes=$OPTARG ;;
	*) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
crdtd=$top/$build/src/daemon/crdtd
[ -x "$crdtd" ] || { echo "no $crdtd: build first" >&2; exit 1; }

work=$(mktemp -d /tmp/crdtd-durable.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
udp=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

start() { # durability
	cat >"$work/c.ini" <<INI
[node]
name = bench
data_dir = $work/data
listen = 127.0.0.1:$udp
client = 127.0.0.1:$port
[log]
level = warn
[storage]
durability = $1
INI
	"$crdtd" -c "$work/c.ini" 2>>"$work/log" &
	pid=$!
	for _ in $(seq 600); do
		redis-cli -p "$port" PING >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "crdtd did not start:" >&2
	cat "$work/log" >&2
	exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

rps() { # key
	redis-benchmark -p "$port" -c 50 -P 16 -n "$requests" -r 1000000000000 --csv \
		SADD "$1" "m__rand_int__" 2>/dev/null | awk -F'","' 'NR==2 { print $2 }'
}

# the big set, loaded once without syncs (the loading is not measured)
start none
/usr/bin/python3 - "$port" "$size" <<'PY'
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
n, batch = int(sys.argv[2]), 10000
for i in range(0, n, batch):
    r.sadd("big", *("key%08d" % j for j in range(i, min(n, i + batch))))
PY
stop

echo "| durability | SADD ops/s, empty set | SADD ops/s, $size-element set | big / empty |"
echo "|---|---:|---:|---:|"
for m in $modes; do
	t0=$(date +%s.%N)
	start "$m"
	t1=$(date +%s.%N)
	card=$(redis-cli -p "$port" SCARD big)
	[ "$card" -ge "$size" ] || { echo "big set has $card elements after restart" >&2; exit 1; }
	e=() b=()
	for r in 1 2 3; do # interleaved, median of three
		e+=("$(rps "empty:$m:$r")")
		b+=("$(rps big)")
	done
	me=$(printf '%s\n' "${e[@]}" | sort -g | sed -n 2p)
	mb=$(printf '%s\n' "${b[@]}" | sort -g | sed -n 2p)
	printf '| %s | %.0f | %.0f | %.2f |\n' "$m" "$me" "$mb" "$(awk -v a="$mb" -v b="$me" 'BEGIN { print a / b }')"
	stop
	echo "  (restart with the $size-element set loaded in $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }') s)" >&2
done
du -sh "$work/data/store.lmdb" | awk '{ print "store file after the runs: " $1 }' >&2
