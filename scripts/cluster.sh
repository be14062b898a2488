#!/bin/bash
# Start, stop and inspect a local crdtd cluster on loopback: N daemons with
# generated configs in a run directory, PIDs recorded, logs kept.  Stop kills
# only the PIDs this script recorded.
set -eu

usage() {
	cat <<'EOF'
usage: cluster.sh start N [options]     N daemons on 127.0.0.1, full mesh
       cluster.sh stop [--dir DIR]      stop the daemons started in DIR (by PID)
       cluster.sh status [--dir DIR]    name, pid, alive, ports, keys of each node

options (start):
  --dir DIR          run directory (default: ./run/cluster); configs, data, logs,
                     and nodes.txt ("name client_port udp_port pid" a line)
  --names a,b,c      node names (default n0,n1,...)
  --base-port P      UDP ports P..P+N-1, client ports P+1000..P+1000+N-1
                     (default 21000); "auto": a block found free now, below
                     the kernel's ephemeral range
  --interval MS      [gossip] interval_ms (default 200)
  --deltas yes|no    [gossip] deltas (default yes: local writes go as deltas)
  --sim              enable the simulation shim ([simulation] enabled = yes)
  --loss P           [simulation] loss (implies --sim)
  --latency MIN-MAX  [simulation] latency_ms (implies --sim)
  --seed S           [simulation] seed (implies --sim)
  --log-level L      error, warn, info or debug (default info)
  --crdtd PATH       the daemon (default: $CRDTD, else build/src/daemon/crdtd)
  --build DIR        take the daemon from DIR/src/daemon/crdtd
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
dir=./run/cluster
names=""
base=21000
interval=200
deltas=yes
sim=no
loss=0
latency=0-0
seed=0
level=info
crdtd=${CRDTD:-$here/../build/src/daemon/crdtd}

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
case "$cmd" in
-h|--help|help) usage; exit 0 ;;
start)
	[ $# -ge 1 ] || { usage >&2; exit 2; }
	n=$1
	shift
	case "$n" in ''|*[!0-9]*) echo "cluster.sh: N must be a number" >&2; exit 2 ;; esac ;;
stop|status) ;;
*) usage >&2; exit 2 ;;
esac

while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir=$2; shift ;;
	--names) names=$2; shift ;;
	--base-port) base=$2; shift ;;
	--interval) interval=$2; shift ;;
	--deltas) deltas=$2; shift ;;
	--sim) sim=yes ;;
	--loss) loss=$2; sim=yes; shift ;;
	--latency) latency=$2; sim=yes; shift ;;
	--seed) seed=$2; sim=yes; shift ;;
	--log-level) level=$2; shift ;;
	--crdtd) crdtd=$2; shift ;;
	--build) crdtd=$2/src/daemon/crdtd; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "cluster.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

[ -d "$dir" ] && dir=$(cd "$dir" && pwd)

# Is PID a crdtd we started with a config in $dir?
ours() {
	local pid=$1 cmdline
	[ -r "/proc/$pid/cmdline" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in *crdtd*" -c $dir/"*) return 0 ;; esac
	return 1
}

do_stop() {
	local name cport uport pid i
	[ -f "$dir/nodes.txt" ] || { echo "cluster.sh: no cluster in $dir"; return 0; }
	while read -r name cport uport pid; do
		if ours "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done <"$dir/nodes.txt"
	while read -r name cport uport pid; do
		for i in $(seq 1 100); do
			ours "$pid" || break
			sleep 0.05
		done
		if ours "$pid"; then
			echo "cluster.sh: $name (pid $pid) did not stop in 5 s, killing" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done <"$dir/nodes.txt"
	rm -f "$dir/nodes.txt"
}

do_status() {
	local name cport uport pid alive keys
	[ -f "$dir/nodes.txt" ] || { echo "cluster.sh: no cluster in $dir"; return 1; }
	printf '%-10s %-8s %-6s %-7s %-7s %s\n' NAME PID ALIVE CLIENT UDP KEYS
	while read -r name cport uport pid; do
		alive=no
		keys=-
		if ours "$pid"; then
			alive=yes
			keys=$(redis-cli -p "$cport" DBSIZE 2>/dev/null || echo '?')
		fi
		printf '%-10s %-8s %-6s %-7s %-7s %s\n' "$name" "$pid" "$alive" "$cport" "$uport" "$keys"
	done <"$dir/nodes.txt"
}

# A base port whose 2 blocks of N ports (UDP, TCP) nobody listens on now.
pick_base() {
	local used try b i ok
	used=$(ss -Hlntu 2>/dev/null | awk '{ n = split($5, a, ":"); print a[n] }' | sort -u)
	for try in $(seq 1 50); do
		b=$((20000 + RANDOM % 550 * 20))
		ok=1
		for ((i = 0; i < n; i++)); do
			if grep -qx -e "$((b + i))" -e "$((b + 1000 + i))" <<<"$used"; then ok=0; break; fi
		done
		[ "$ok" = 1 ] && { echo "$b"; return 0; }
	done
	echo 21000
}

do_start() {
	local i j name pid conf
	local -a nm
	if [ -f "$dir/nodes.txt" ]; then
		echo "cluster.sh: $dir already has a cluster; stop it first" >&2
		return 1
	fi
	[ -x "$crdtd" ] || { echo "cluster.sh: no daemon at $crdtd (build first, or --crdtd)" >&2; return 1; }
	command -v redis-cli >/dev/null || { echo "cluster.sh: redis-cli is missing" >&2; return 1; }
	if [ -n "$names" ]; then
		IFS=, read -r -a nm <<<"$names"
		[ "${#nm[@]}" -eq "$n" ] || { echo "cluster.sh: --names lists ${#nm[@]} names, N is $n" >&2; return 1; }
	else
		for ((i = 0; i < n; i++)); do nm[i]=n$i; done
	fi
	[ "$base" = auto ] && base=$(pick_base)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	: >"$dir/nodes.txt.new"
	for ((i = 0; i < n; i++)); do
		name=${nm[i]}
		conf=$dir/$name.ini
		mkdir -p "$dir/$name"
		{
			echo "[node]"
			echo "name = $name"
			echo "data_dir = $dir/$name"
			echo "listen = 127.0.0.1:$((base + i))"
			echo "client = 127.0.0.1:$((base + 1000 + i))"
			echo "[gossip]"
			echo "interval_ms = $interval"
			echo "push_delay_ms = 1"
			echo "deltas = $deltas"
			echo "[log]"
			echo "level = $level"
			echo "[simulation]"
			echo "enabled = $sim"
			echo "loss = $loss"
			echo "latency_ms = $latency"
			echo "seed = $seed"
			echo "[peers]"
			for ((j = 0; j < n; j++)); do
				[ "$j" -eq "$i" ] || echo "${nm[j]} = 127.0.0.1:$((base + j))"
			done
		} >"$conf"
		"$crdtd" -c "$conf" >>"$dir/$name.log" 2>&1 </dev/null &
		pid=$!
		echo "$name $((base + 1000 + i)) $((base + i)) $pid" >>"$dir/nodes.txt.new"
	done
	mv "$dir/nodes.txt.new" "$dir/nodes.txt"
	# every node answers PING within 10 s, or the cluster is stopped again
	while read -r name cport _ pid; do
		for i in $(seq 1 200); do
			[ "$(redis-cli -p "$cport" PING 2>/dev/null)" = PONG ] && break
			if ! ours "$pid"; then
				echo "cluster.sh: $name exited; its log:" >&2
				tail -n 20 "$dir/$name.log" >&2
				do_stop
				return 1
			fi
			sleep 0.05
		done
		if [ "$(redis-cli -p "$cport" PING 2>/dev/null)" != PONG ]; then
			echo "cluster.sh: $name does not answer on port $cport" >&2
			do_stop
			return 1
		fi
	done <"$dir/nodes.txt"
	echo "cluster.sh: $n nodes running in $dir (clients on ports $((base + 1000))..$((base + 999 + n)))"
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
esac
