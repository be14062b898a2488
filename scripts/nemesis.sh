#!/bin/bash
# A randomized partition test in the spirit of Jepsen.  N daemons with the
# simulation shim; R rounds, each a random fault (split the cluster in two,
# heal, isolate a node, change every node's loss rate) followed by random
# writes to every type on random nodes.  A model tracks what each
# acknowledged write implies; at the end the faults are healed and every
# replica must equal the model exactly.  Seeded: the seed is printed, and
# --seed S replays the same faults and writes.
set -eu

usage() {
	cat <<'EOF'
usage: nemesis.sh [--nodes N] [--rounds R] [--seed S] [--crdtd PATH | --build DIR]
                  [--pause SECONDS] [--timeout SECONDS] [--base-port P] [--deltas yes|no]
                  [--keep]

  --nodes N          cluster size (default 5)
  --rounds R         fault rounds (default 30)
  --seed S           seed of the faults, the writes and the shims (default: random)
  --pause SECONDS    time between rounds (default 0.3)
  --timeout SECONDS  bound on the final convergence (default 30)
  --crdtd PATH       the daemon (default: $CRDTD, else build/src/daemon/crdtd)
  --build DIR        take the daemon from DIR/src/daemon/crdtd
  --base-port P      UDP ports P.., client ports P+1000.. (default: auto, a free block)
  --deltas yes|no    [gossip] deltas on every node (default yes; no: full state only)
  --keep             keep the run directory (configs, logs) afterwards

The model: pn (PN-Counter) and g (G-Counter) are the sums of the acknowledged
increments; gs (G-Set) the union of the added elements; os (OR-Set) gets each
element added once, on one node, so an SREM that answers 1 removed that
element's only add (it stays removed) and one that answers 0 changed
nothing; reg (LWW-Register) holds the last SET, the writes being at least a
few ms apart on one host's clock; dk (OR-Set) and dc (PN-Counter) are written
and deleted (DEL) on the first node only, which has seen every write to them,
so each DEL empties them exactly, and the older states the other replicas
hold while partitioned must not bring anything back.  hc (a hash of counters)
holds per field the sum of its HINCRBYs (never deleted); hs (a hash) gets
each field set once, on one node, so an HDEL that answers 1 removed that
field's only write (it stays removed), as for os.
Expiry: each xN key (a register, a set or a hash) is written on the first
node only and given there a TTL of 100-300 ms, far shorter than the run (SET
PX, PEXPIRE or EXPIRE's ms twin): no other node writes it, so it must be
absent on every node at the end whatever the faults.  Each tN register is
made on the first node with EX 3600, then PERSISTed or EXPIREd again on
random nodes; writes are a few ms apart on one host's clock, so the latest
acknowledged one wins (an EXPIRE that answers 0 found no key and a PERSIST
that answers 0 no deadline: neither wrote), and every node must end with
TTL -1 (persisted) or a live TTL of at most 3600 s as the model says.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
crdtd=${CRDTD:-$here/../build/src/daemon/crdtd}
n=5
rounds=30
seed=$(( ($(date +%s%N) / 1000) % 1000000000 ))
pause=0.3
timeout=30
base=auto
deltas=yes
keep=no
while [ $# -gt 0 ]; do
	case "$1" in
	--nodes) n=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--seed) seed=$2; shift ;;
	--pause) pause=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--crdtd) crdtd=$2; shift ;;
	--build) crdtd=$2/src/daemon/crdtd; shift ;;
	--base-port) base=$2; shift ;;
	--deltas) deltas=$2; shift ;;
	--keep) keep=yes ;;
	-h|--help) usage; exit 0 ;;
	*) echo "nemesis.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ "$n" -ge 2 ] || { echo "nemesis.sh: --nodes must be at least 2" >&2; exit 2; }

echo "nemesis: seed $seed, $n nodes, $rounds rounds (replay: $0 --seed $seed --nodes $n --rounds $rounds)"
RANDOM=$seed

run=$(mktemp -d /tmp/crdtd-nemesis-XXXXXX)
cleanup() {
	local rc=$?
	"$here/cluster.sh" stop --dir "$run" >/dev/null || true
	[ "$rc" -ne 0 ] && echo "nemesis: FAILED with seed $seed (logs in $run)" >&2 && keep=yes
	[ "$keep" = yes ] && echo "run directory kept: $run" || rm -rf "$run"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/cluster.sh" start "$n" --dir "$run" --base-port "$base" --interval 100 --sim \
	--seed "$seed" --deltas "$deltas" --log-level warn --crdtd "$crdtd"

declare -a name port
i=0
while read -r nm cport _; do name[i]=$nm; port[i]=$cport; i=$((i + 1)); done <"$run/nodes.txt"

cli() {
	local i=$1
	shift
	redis-cli -p "${port[i]}" --raw "$@"
}
# A write must be acknowledged: any error reply fails the test.
write() {
	local i=$1 out
	shift
	out=$(cli "$i" "$@") || { echo "nemesis: ${name[i]}: $* failed" >&2; exit 1; }
	case "$out" in ERR*|WRONGTYPE*) echo "nemesis: ${name[i]}: $*: $out" >&2; exit 1 ;; esac
	reply=$out
}
sim() {
	local i=$1 out
	shift
	out=$(cli "$i" CRDT.SIM "$@")
	[ "$out" = OK ] || { echo "nemesis: ${name[i]}: CRDT.SIM $*: $out" >&2; exit 1; }
}

# ---- the model ----
pn=0 g=0 reg="" seq=0 dc="" dels=0
declare -A os gs dk hc hs tk
declare -a xk

heal_all() { local i; for ((i = 0; i < n; i++)); do sim "$i" HEAL; done; }

nemesis() {
	local what=$((RANDOM % 4)) i k others
	case $what in
	0)	# split: k nodes on one side, the rest on the other
		heal_all
		k=$((1 + RANDOM % (n / 2)))
		local -a side
		for ((i = 0; i < n; i++)); do side[i]=0; done
		for ((i = 0; i < k; i++)); do side[RANDOM % n]=1; done
		others=""
		for ((i = 0; i < n; i++)); do [ "${side[i]}" = 0 ] && others="$others ${name[i]}"; done
		[ -n "$others" ] || return 0
		for ((i = 0; i < n; i++)); do
			# shellcheck disable=SC2086
			[ "${side[i]}" = 1 ] && sim "$i" PARTITION $others
		done
		echo "round $r: partition {$(for ((i = 0; i < n; i++)); do [ "${side[i]}" = 1 ] && printf ' %s' "${name[i]}"; done; true) } | {$others }" ;;
	1)	heal_all
		echo "round $r: heal" ;;
	2)	i=$((RANDOM % n))
		sim "$i" ISOLATE
		echo "round $r: isolate ${name[i]}" ;;
	3)	local -a rates=(0 0.1 0.3 0.5) desc=""
		for ((i = 0; i < n; i++)); do
			k=${rates[RANDOM % 4]}
			sim "$i" LOSS "$k"
			desc="$desc ${name[i]}=$k"
		done
		echo "round $r: loss$desc" ;;
	esac
}

random_write() {
	local i=$((RANDOM % n)) d e keys
	seq=$((seq + 1))
	case $((RANDOM % 15)) in
	0) d=$((RANDOM % 11 - 5)); write "$i" INCRBY pn "$d"; pn=$((pn + d)) ;;
	1) d=$((1 + RANDOM % 5)); write "$i" INCRBY g "$d"; g=$((g + d)) ;;
	2) e=e$seq; write "$i" SADD os "$e"; os[$e]=1 ;;
	3)	keys=(${!os[@]})
		[ ${#keys[@]} -gt 0 ] || return 0
		e=${keys[RANDOM % ${#keys[@]}]}
		write "$i" SREM os "$e"
		[ "$reply" = 1 ] && os[$e]=0
		true ;;
	4) e=x$seq; write "$i" SADD gs "$e"; gs[$e]=1 ;;
	5) sleep 0.003; write "$i" SET reg "v$seq"; reg=v$seq ;;
	6) e=d$seq; write 0 SADD dk "$e"; dk[$e]=1 ;;
	7) d=$((1 + RANDOM % 5)); write 0 INCRBY dc "$d"; dc=$((${dc:-0} + d)) ;;
	8) write 0 DEL dk dc; dk=(); dc=""; dels=$((dels + 1)) ;;
	9) e=f$((RANDOM % 3)); d=$((RANDOM % 11 - 5)); write "$i" HINCRBY hc "$e" "$d"
	   hc[$e]=$(( ${hc[$e]:-0} + d )) ;;
	10) e=h$seq; write "$i" HSET hs "$e" "v$seq"; hs[$e]=v$seq ;;
	11)	keys=(${!hs[@]})
		[ ${#keys[@]} -gt 0 ] || return 0
		e=${keys[RANDOM % ${#keys[@]}]}
		write "$i" HDEL hs "$e"
		[ "$reply" = 1 ] && hs[$e]=""
		true ;;
	12)	e=x$seq; d=$((100 + RANDOM % 201))
		case $((seq % 3)) in
		0) write 0 SET "$e" v PX "$d" ;;
		1) write 0 SADD "$e" a b; write 0 PEXPIRE "$e" "$d" ;;
		2) write 0 HSET "$e" f v; write 0 PEXPIREAT "$e" $(( $(date +%s%3N) + d )) ;;
		esac
		xk+=("$e") ;;
	13) e=t$seq; write 0 SET "$e" v EX 3600; tk[$e]=ttl ;;
	14)	keys=(${!tk[@]})
		[ ${#keys[@]} -gt 0 ] || return 0
		e=${keys[RANDOM % ${#keys[@]}]}
		sleep 0.003
		if ((RANDOM % 2)); then
			write "$i" PERSIST "$e"
			[ "$reply" = 1 ] && tk[$e]=none
		else
			write "$i" EXPIRE "$e" 3600
			[ "$reply" = 1 ] && tk[$e]=ttl
		fi
		true ;;
	esac
}

# every type exists everywhere before the faults start
write 0 CRDT.CREATE g gcounter
write 0 CRDT.CREATE gs gset
write 0 INCRBY pn 1
pn=1
write 0 SADD os e0
os[e0]=1
write 0 SET reg v0
reg=v0
write 0 HINCRBY hc f0 0
hc[f0]=0
write 0 HSET hs h0 v0
hs[h0]=v0
write 0 SET t0 v EX 3600
write 0 PERSIST t0
tk[t0]=none
for ((i = 1; i < n; i++)); do
	for ((t = 0; t < 100; t++)); do
		[ "$(cli "$i" DBSIZE)" = 8 ] && break
		sleep 0.1
	done
done

start=$SECONDS
for ((r = 1; r <= rounds; r++)); do
	nemesis
	for ((w = 0; w < 3 + RANDOM % 6; w++)); do random_write; done
	sleep "$pause"
done
echo "nemesis: $seq writes in $((SECONDS - start)) s; healing, loss 0"
heal_all
for ((i = 0; i < n; i++)); do sim "$i" LOSS 0; done

want_os=$(for e in "${!os[@]}"; do [ "${os[$e]}" = 1 ] && echo "$e"; done | sort | tr '\n' ' ')
want_gs=$(for e in "${!gs[@]}"; do echo "$e"; done | sort | tr '\n' ' ')
want_dk=$(for e in "${!dk[@]}"; do echo "$e"; done | sort | tr '\n' ' ')
want_hc=$(for e in "${!hc[@]}"; do echo "$e ${hc[$e]}"; done | sort | tr '\n' ' ')
want_hs=$(for e in "${!hs[@]}"; do [ -n "${hs[$e]}" ] && echo "$e ${hs[$e]}"; done | sort | tr '\n' ' ')
want_tk=$(for e in "${!tk[@]}"; do echo "$e ${tk[$e]}"; done | sort | tr '\n' ' ')
# DBSIZE: pn, g, gs, reg, hc; os, hs, dk and dc while they hold something
# (an empty set or hash is no key); the tN keys
nkeys=$((5 + ${#tk[@]}))
for v in "$want_os" "$want_hs" "$want_dk" "$dc"; do [ -n "$v" ] && nkeys=$((nkeys + 1)); done
want="pn=$pn g=$g reg=$reg os=[$want_os] gs=[$want_gs] dk=[$want_dk] dc=$dc hc=[$want_hc] hs=[$want_hs] x=0 t=[$want_tk] keys=$nkeys"
# TTL as the model names it: none (-1), ttl (1..3600 s), or the number
ttl_of() {
	local t
	t=$(cli "$1" TTL "$2")
	if [ "$t" = -1 ]; then echo none; elif [ "$t" -ge 1 ] && [ "$t" -le 3600 ]; then echo ttl; else echo "$t"; fi
}
state() {
	local e
	printf 'pn=%s g=%s reg=%s os=[%s] gs=[%s] dk=[%s] dc=%s hc=[%s] hs=[%s] x=%s t=[%s] keys=%s' "$(cli "$1" GET pn)" \
		"$(cli "$1" GET g)" "$(cli "$1" GET reg)" "$(cli "$1" SMEMBERS os | sed "/^$/d" | sort | tr '\n' ' ')" \
		"$(cli "$1" SMEMBERS gs | sort | tr '\n' ' ')" \
		"$(cli "$1" SMEMBERS dk | sed "/^$/d" | sort | tr '\n' ' ')" "$(cli "$1" GET dc)" \
		"$(cli "$1" HGETALL hc | sed "/^$/d" | paste - - -d ' ' | sort | tr '\n' ' ')" \
		"$(cli "$1" HGETALL hs | sed "/^$/d" | paste - - -d ' ' | sort | tr '\n' ' ')" \
		"$( ((${#xk[@]})) && cli "$1" EXISTS "${xk[@]}" || echo 0)" \
		"$(for e in "${!tk[@]}"; do echo "$e $(ttl_of "$1" "$e")"; done | sort | tr '\n' ' ')" \
		"$(cli "$1" DBSIZE)"
}
all_equal() {
	local i bad=0
	for ((i = 0; i < n; i++)); do
		if [ "$(state "$i")" != "$want" ]; then
			bad=1
			[ -n "${1:-}" ] && printf '  %s has    %s\n  %s wanted %s\n' "${name[i]}" "$(state "$i")" \
				"${name[i]//?/ }" "$want" >&2
		fi
	done
	return $bad
}
t0=$SECONDS
deadline=$((SECONDS + timeout))
until all_equal; do
	if [ $SECONDS -ge $deadline ]; then
		all_equal verbose || true
		echo "FAIL: replicas differ from the model ${timeout}s after heal (seed $seed)" >&2
		exit 1
	fi
	sleep 0.1
done
echo "PASS: all $n replicas equal the model $((SECONDS - t0)) s after heal:" \
	"pn=$pn g=$g reg=$reg, os ${#os[@]} added / $(echo "$want_os" | wc -w) present, gs $(echo "$want_gs" | wc -w)," \
	"dk [$want_dk] dc=$dc (after $dels DEL), hc [$want_hc], hs ${#hs[@]} set / $(( $(echo "$want_hs" | wc -w) / 2 )) present," \
	"${#xk[@]} keys expired, ${#tk[@]} with a TTL [$want_tk]"
