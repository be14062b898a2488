#!/bin/bash
# Client throughput of crdtd against redis-server, measured in one run on
# this machine with redis-benchmark (50 clients, pipeline 16).  crdtd runs as
# one of three loopback replicas, so every write is also gossiped to two
# peers.  Prints a markdown table: median ops/s of RUNS runs per command for
# both servers and their ratio.
#   bench/redis-compare.sh [-n REQUESTS] [-r RUNS] [-P PIPELINE] [-b BUILD_DIR]
#                          [-d always|batch|none|memory]
# -d pairs crdtd's [storage] durability with redis-server's persistence:
#   always: appendfsync always; batch: appendfsync everysec (batch_ms 1000);
#   none: appendfsync no; memory (default): crdtd durability none against
#   redis-server with no persistence at all.
set -euo pipefail

requests=200000 runs=3 pipeline=16 build=build mode=memory
while getopts "n:r:P:b:d:h" o; do
	case $o in
	n) requests=$OPTARG ;;
	r) runs=$OPTARG ;;
	P) pipeline=$OPTARG ;;
	b) build=$OPTARG ;;
	d) mode=$OPTARG ;;
	*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	esac
done
case $mode in
always) durability=always redis_persist=(--appendonly yes --appendfsync always) ;;
batch) durability=batch redis_persist=(--appendonly yes --appendfsync everysec) ;;
none) durability=none redis_persist=(--appendonly yes --appendfsync no) ;;
memory) durability=none redis_persist=(--appendonly no) ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
crdtd=$top/$build/src/daemon/crdtd
[ -x "$crdtd" ] || { echo "no $crdtd: build first (ninja -C $build)" >&2; exit 1; }

work=$(mktemp -d /tmp/crdtd-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }

wait_ping() {
	for _ in $(seq 100); do
		redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server on port $1 did not start" >&2
	exit 1
}

rport=$(free_port SOCK_STREAM)
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --save "" "${redis_persist[@]}" \
	--dir "$work/redis" --daemonize no --logfile "$work/redis.log" &
pids+=($!)

# three crdtd replicas, full mesh
names=(a b c)
declare -A udp tcp
for n in "${names[@]}"; do udp[$n]=$(free_port SOCK_DGRAM); tcp[$n]=$(free_port SOCK_STREAM); done
for n in "${names[@]}"; do
	{
		echo "[node]"
		echo "name = $n"
		echo "data_dir = $work/$n"
		echo "listen = 127.0.0.1:${udp[$n]}"
		echo "client = 127.0.0.1:${tcp[$n]}"
		echo "[log]"
		echo "level = warn"
		echo "[storage]"
		echo "durability = $durability"
		echo "batch_ms = 1000"
		echo "[peers]"
		for p in "${names[@]}"; do [ "$p" = "$n" ] || echo "$p = 127.0.0.1:${udp[$p]}"; done
	} >"$work/$n.ini"
	"$crdtd" -c "$work/$n.ini" 2>>"$work/$n.log" &
	pids+=($!)
done
cport=${tcp[a]}
wait_ping "$rport"
for n in "${names[@]}"; do wait_ping "${tcp[$n]}"; done

# One redis-benchmark run; prints requests per second.
rps() {
	local port=$1; shift
	redis-benchmark -p "$port" -c 50 -P "$pipeline" -n "$requests" -r 100000 --csv "$@" |
		awk -F'","' 'NR==2 { print $2 }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a labels cmds
labels=("INCRBY" "SADD (random members)" "SET" "GET")
cmds=("INCRBY counter 1" "SADD set:__rand_int__ m__rand_int__" "SET key:__rand_int__ v__rand_int__" "GET key:__rand_int__")

echo "durability $mode: crdtd $durability, redis-server ${redis_persist[*]}"
echo
echo "| command | redis-server ops/s | crdtd ops/s | crdtd / redis |"
echo "|---|---:|---:|---:|"
for i in "${!labels[@]}"; do
	read -ra words <<<"${cmds[$i]}"
	r=() c=()
	# interleave the two servers so that noise on the machine hits both
	for _ in $(seq "$runs"); do
		r+=("$(rps "$rport" "${words[@]}")")
		c+=("$(rps "$cport" "${words[@]}")")
	done
	rm=$(printf '%s\n' "${r[@]}" | median)
	cm=$(printf '%s\n' "${c[@]}" | median)
	ratio=$(awk -v a="$cm" -v b="$rm" 'BEGIN { printf "%.2f", a / b }')
	printf '| %s | %.0f | %.0f | %s |\n' "${labels[$i]}" "$rm" "$cm" "$ratio"
done
for n in "${names[@]}"; do
	if grep -q -E ' (error|warn) ' "$work/$n.log"; then
		echo "crdtd $n logged warnings:" >&2
		head -5 "$work/$n.log" >&2
	fi
done
# replication really happened: the peers hold the counter too
echo
echo "counter on the three replicas after the run: $(for n in "${names[@]}"; do redis-cli -p "${tcp[$n]}" GET counter; done | tr '\n' ' ')"
