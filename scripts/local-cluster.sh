#!/bin/sh
# Build crdtd and run the 3-node loopback cluster of conf/cluster/ (a, b, c).
#   scripts/local-cluster.sh [start]   install deps, build, start a, b and c
#   scripts/local-cluster.sh stop      stop the nodes this script started (by PID)
#   scripts/local-cluster.sh status    which nodes run, and their client ports
# State, logs and PID files go to run/ at the top of the tree.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run=run
nodes="a b c"

port_of() { sed -n 's/^client *= *[0-9.]*:\([0-9]*\).*/\1/p' "conf/cluster/$1.ini"; }

alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

start() {
	scripts/install-deps.sh
	[ -d build ] || meson setup build
	ninja -C build
	mkdir -p "$run"
	for n in $nodes; do
		if alive "$n"; then
			echo "node $n already running (pid $(cat "$run/$n.pid"))"
			continue
		fi
		build/src/daemon/crdtd -c "conf/cluster/$n.ini" >>"$run/$n.log" 2>&1 &
		echo $! >"$run/$n.pid"
	done
	# wait (bounded) until every node answers
	for n in $nodes; do
		i=0
		until redis-cli -p "$(port_of "$n")" PING >/dev/null 2>&1; do
			i=$((i + 1))
			if [ $i -gt 100 ] || ! alive "$n"; then
				echo "node $n did not start; see $run/$n.log:" >&2
				tail -n 20 "$run/$n.log" >&2
				exit 1
			fi
			sleep 0.1
		done
	done
	echo "cluster up: nodes a, b, c (logs in $run/*.log)"
	for n in $nodes; do
		echo "  redis-cli -p $(port_of "$n")        # node $n"
	done
	echo "try: redis-cli -p 6380 SADD cart laptop; redis-cli -p 6382 SMEMBERS cart"
	echo "stop with: scripts/local-cluster.sh stop"
}

stop() {
	for n in $nodes; do
		if alive "$n"; then
			pid=$(cat "$run/$n.pid")
			kill "$pid"
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
			echo "stopped node $n (pid $pid)"
		fi
		rm -f "$run/$n.pid"
	done
}

status() {
	for n in $nodes; do
		if alive "$n"; then
			echo "node $n: running, pid $(cat "$run/$n.pid"), redis-cli -p $(port_of "$n")"
		else
			echo "node $n: stopped"
		fi
	done
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
-h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' ;;
*) echo "usage: $0 [start|stop|status|--help]" >&2; exit 2 ;;
esac
