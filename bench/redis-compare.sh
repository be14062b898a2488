#!/bin/bash
# Client throughput and latency of crdtd against redis-server, measured in one
# run on this machine.  crdtd runs as one of three loopback replicas, so every
# write is also gossiped to two peers; redis-server runs alone with the
# matching persistence, and a second redis-server with two replicas of its
# own (replicaof, same persistence) takes the same load: the same work as
# crdtd's three, on the same cores.
#
# Throughput: redis-benchmark, 50 clients (-c), at each pipeline depth of -P,
# for INCRBY, SADD (random members into one set), SET, GET and SMEMBERS of a
# 1,000-element set (a 25th of the requests); the three servers alternate run by run so that noise on
# the machine hits all; the table gives the median of RUNS runs each and
# crdtd's ratio to each redis.  Latency (-L RATE): bench/latency (build/bench/latency), one
# connection at RATE requests/s for -T seconds per command and server, open
# loop; p50 / p99 / p99.9 (SADD into a fresh set "lset").  The latency client
# and the server's main thread are pinned to one CPU while it runs (taskset):
# on another, idle CPU the server waits to be woken, which on this VM makes a
# p50 about 2.5 times as long for either server, and the scheduler's choice
# would fall either way from run to run (bench/replicating_latency.py).
#
#   bench/redis-compare.sh [-n REQUESTS] [-r RUNS] [-P "1 16"] [-c CLIENTS] [-b BUILD_DIR]
#                          [-d always|batch|none|memory] [-L RATE] [-T SECONDS]
#                          [-D DATAFILE]
# -n is the request count per run at pipeline 16 (a quarter of it at
# pipeline 1).  -d pairs crdtd's [storage] durability with redis-server's
# persistence: always: appendfsync always; batch: appendfsync everysec
# (batch_ms 1000); none: appendfsync no; memory (default): crdtd durability
# none against redis-server with no persistence at all.  -D appends one line
# per measurement ("tput MODE CMD PIPELINE REDIS CRDTD REDIS_REPLICATED" and
# "lat MODE CMD SERVER P50 P99 P999", microseconds) for plots.
set -euo pipefail

requests=200000 runs=3 pipelines="16" clients=50 build=build mode=memory rate=0 lsecs=3
datafile=/dev/null
while getopts "n:r:P:c:b:d:L:T:D:h" o; do
	case $o in
	n) requests=$OPTARG ;;
	r) runs=$OPTARG ;;
	P) pipelines=$OPTARG ;;
	c) clients=$OPTARG ;;
	b) build=$OPTARG ;;
	d) mode=$OPTARG ;;
	L) rate=$OPTARG ;;
	T) lsecs=$OPTARG ;;
	D) datafile=$OPTARG ;;
	*) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
case $build in /*) ;; *) build=$top/$build ;; esac
crdtd=$build/src/daemon/crdtd
latency=$build/bench/latency
[ -x "$crdtd" ] || { echo "no $crdtd: build first (ninja -C $build)" >&2; exit 1; }
[ "$rate" = 0 ] || [ -x "$latency" ] || { echo "no $latency: ninja -C $build bench/latency" >&2; exit 1; }

work=$(mktemp -d /tmp/crdtd-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }

# Poll the command until it succeeds, 10 s at most; else print $1 and stop.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "$what" >&2
	exit 1
}
linked() { redis-cli -p "$1" INFO replication | grep -q '^master_link_status:up'; }

# One redis-server on port $1 in $work/$2, further arguments its own.
redis_start() {
	local port=$1 dir=$work/$2
	shift 2
	mkdir -p "$dir"
	redis-server --port "$port" --bind 127.0.0.1 --save "" "${redis_persist[@]}" \
		--dir "$dir" --daemonize no --logfile "$dir.log" "$@" &
	pids+=($!)
}

rport=$(free_port SOCK_STREAM)
redis_start "$rport" redis
rpid=${pids[-1]}
# the replicated reference: a primary and two replicas of it
r3port=$(free_port SOCK_STREAM)
redis_start "$r3port" redis3
r3replicas=()
for n in 1 2; do
	p=$(free_port SOCK_STREAM)
	redis_start "$p" "redis3-replica$n" --replicaof 127.0.0.1 "$r3port"
	r3replicas+=("$p")
done

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
	[ "$n" != a ] || cpid=$!
done
cport=${tcp[a]}
for p in "$rport" "$r3port" "${r3replicas[@]}" "${tcp[@]}"; do
	wait_for "server on port $p did not start" redis-cli -p "$p" PING
done
for p in "${r3replicas[@]}"; do
	wait_for "redis replica on port $p did not reach its primary" linked "$p"
done

# the 1,000-element set SMEMBERS reads, on both servers
members=$(seq -f 'member:%06g' 1000 | tr '\n' ' ')
for p in "$rport" "$r3port" "$cport"; do
	# shellcheck disable=SC2086
	redis-cli -p "$p" SADD bigset $members >/dev/null
done

# One redis-benchmark run; prints requests per second.
rps() {
	local port=$1 pipe=$2; shift 2
	local n=$requests
	[ "$pipe" -gt 1 ] || n=$((requests / 4))
	[ "$1" != SMEMBERS ] || n=$((n / 25)) # 1,000 elements a reply
	redis-benchmark -p "$port" -c "$clients" -P "$pipe" -n "$n" -r 100000 --csv "$@" |
		awk -F'","' 'NR==2 { print $2 }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -a labels cmds
labels=("INCRBY" "SADD (random members)" "SET" "GET" "SMEMBERS (1,000 elements)")
keys=("INCRBY" "SADD" "SET" "GET" "SMEMBERS")
cmds=("INCRBY counter 1" "SADD rset m__rand_int__" "SET key:__rand_int__ v__rand_int__" "GET key:__rand_int__" "SMEMBERS bigset")

echo "durability $mode: crdtd \`durability = $durability\` (3 replicas), redis-server \`${redis_persist[*]}\` (alone, and with 2 replicas)"
echo
echo "| command | pipeline | redis-server ops/s | redis + 2 replicas ops/s | crdtd ops/s | crdtd / redis | crdtd / redis + 2 replicas |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for pipe in $pipelines; do
	for i in "${!labels[@]}"; do
		read -ra words <<<"${cmds[$i]}"
		r=() r3=() c=()
		# interleave the servers so that noise on the machine hits all three
		for _ in $(seq "$runs"); do
			r+=("$(rps "$rport" "$pipe" "${words[@]}")")
			r3+=("$(rps "$r3port" "$pipe" "${words[@]}")")
			c+=("$(rps "$cport" "$pipe" "${words[@]}")")
		done
		rm=$(printf '%s\n' "${r[@]}" | median)
		r3m=$(printf '%s\n' "${r3[@]}" | median)
		cm=$(printf '%s\n' "${c[@]}" | median)
		awk -v l="${labels[$i]}" -v p="$pipe" -v r="$rm" -v r3="$r3m" -v c="$cm" \
			'BEGIN { printf "| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f |\n", l, p, r, r3, c, c / r, c / r3 }'
		echo "tput $mode ${keys[$i]} $pipe $rm $cm $r3m" >>"$datafile"
	done
done

# bench/latency against the server of PID $1 on port $2, the two on the
# first CPU this script may use (the server's main thread only; its others
# stay where they are), the server's thread given back all of them after.
allcpus=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')
cpu0=${allcpus%%,*}
pinned() {
	local pid=$1 port=$2 out
	shift 2
	taskset -p -c "$cpu0" "$pid" >/dev/null
	out=$(taskset -c "$cpu0" "$latency" -p "$port" -r "$rate" -t "$lsecs" "$@")
	taskset -p -c "$allcpus" "$pid" >/dev/null
	echo "$out"
}

if [ "$rate" != 0 ]; then
	echo
	echo "Latency at $rate requests/s, one connection, ${lsecs} s per command and server, the client and the server's main thread on one CPU (µs):"
	echo
	echo "| command | redis p50 | redis p99 | redis p99.9 | crdtd p50 | crdtd p99 | crdtd p99.9 | p50 ratio | p99 ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for i in "${!labels[@]}"; do
		# SADD into a set of its own, so that this measures one write, not
		# the set the throughput runs grew to 100,000 members
		read -ra words <<<"${cmds[$i]/rset/lset}"
		rl=$(pinned "$rpid" "$rport" "${words[@]}")
		cl=$(pinned "$cpid" "$cport" "${words[@]}")
		get() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
		r50=$(get p50_us "$rl") r99=$(get p99_us "$rl") r999=$(get p999_us "$rl")
		c50=$(get p50_us "$cl") c99=$(get p99_us "$cl") c999=$(get p999_us "$cl")
		sat=""
		grep -q 'saturated=1' <<<"$rl$cl" && sat=" (saturated: could not keep up with $rate/s)"
		awk -v l="${labels[$i]}$sat" -v a="$r50" -v b="$r99" -v c="$r999" -v d="$c50" -v e="$c99" -v f="$c999" \
			'BEGIN { printf "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n", l, a, b, c, d, e, f, d / a, e / b }'
		echo "lat $mode ${keys[$i]} redis $r50 $r99 $r999" >>"$datafile"
		echo "lat $mode ${keys[$i]} crdtd $c50 $c99 $c999" >>"$datafile"
	done
fi

for n in "${names[@]}"; do
	if grep -v 'no \[security\] key_file' "$work/$n.log" | grep -q -E ' (error|warn) '; then
		echo "crdtd $n logged warnings:" >&2
		grep -v 'no \[security\] key_file' "$work/$n.log" | head -5 >&2
	fi
done
# replication really happened: the peers hold the counter too
echo
echo "Counter on the three replicas after the run (replication check): $(for n in "${names[@]}"; do redis-cli -p "${tcp[$n]}" GET counter; done | tr '\n' ' ')"
echo "Counter on the replicated redis-server and its two replicas: $(for p in "$r3port" "${r3replicas[@]}"; do redis-cli -p "$p" GET counter; done | tr '\n' ' ')"
