#!/bin/bash
# Every benchmark of crdtd on this machine in one go, side by side with
# redis-server, Serf and the raw loopback network, and the report:
# OUT/benchmarks.md (tables) and OUT/bench-*.png, OUT/convergence-*.png (plots).
#
#   scripts/bench.sh [--quick] [--out DIR] [--build DIR]
#
#   --quick      small sizes, one run each, durability none only: about a
#                minute; for checking that everything runs, not for numbers
#   --out DIR    where the report and plots go (default docs)
#   --build DIR  the meson build directory (default build; built here)
#
# Runs, in order: bench/redis-compare.sh (throughput and latency against
# redis-server, per durability mode), bench/memory.py, bench/gossip_rate.py
# (with build/bench/udp_ceiling), bench/spread.py (against serf),
# bench/convergence.py, issue 12's bench/replicating_latency.py,
# bench/digest_rounds.py, bench/delta_cost.py and bench/catchup.py, and
# build/bench/bench_crdt.  Every server is started
# on loopback by those programs and stopped by PID.  Needs redis-server,
# redis-tools, python3-redis, gnuplot-nox (plots) and serf (spread).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
quick=0 out=$top/docs build=$top/build
cmdline="scripts/bench.sh $*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--out) out=$2; shift ;;
	--build) build=$2; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
py=/usr/bin/python3 # Debian's: the one python3-redis is installed for
[ -x $py ] || py=python3
for t in redis-server redis-benchmark redis-cli; do
	command -v $t >/dev/null || { echo "bench.sh: $t missing (scripts/install-deps.sh)" >&2; exit 1; }
done
ninja -C "$build" src/daemon/crdtd bench/bench_crdt bench/udp_ceiling bench/latency >/dev/null
crdtd=$build/src/daemon/crdtd

work=$(mktemp -d /tmp/crdtd-benchall.XXXXXX)
trap 'rm -rf "$work"' EXIT
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

if [ $quick = 1 ]; then
	modes="none" tput_n=4000 tput_runs=1 lat_rate=1000 lat_secs=0.5
	mem_args=(--elements 100000 --registers 20000 --replicas 10 --counters 200)
	gossip_args=(--elements 50000 --seconds 1.5 --runs 1)
	spread_args=(--nodes 3 --trials 10 --serf-trials 3)
	lossy_args=(--nodes 3 --trials 10 --loss 0.1)
	conv_args=(--quick)
	crdt_args=(1 10000)
	replat_args=(--set 20000 --keys 2000 --seconds 1 --modes none --repeats 1)
	steady_args=(--keys 2000 --set 20000 --seconds 2 --digests yes)
	dcost_args=(--elements 20000)
	catchup_args=(--elements 20000 --runs 1)
else
	modes="always batch none" tput_n=30000 tput_runs=3 lat_rate=1000 lat_secs=1.5
	mem_args=(--elements 1000000 --registers 100000 --replicas 100 --counters 1000)
	gossip_args=(--elements 200000 --seconds 5 --runs 3)
	spread_args=(--nodes 3,10 --trials 50 --serf-trials 10)
	lossy_args=(--nodes 3,10 --trials 100 --loss 0.1)
	conv_args=()
	crdt_args=(9 1000000)
	replat_args=(--set 1000000 --keys 100000 --seconds 10)
	steady_args=(--keys 100000 --set 1000000 --seconds 10 --digests yes)
	dcost_args=(--elements 1000000)
	catchup_args=(--elements 1000000 --runs 3)
fi
step() { echo "bench.sh: $* ($(($(date +%s) - t_start)) s)" >&2; }

# ---- run everything -------------------------------------------------------
: >"$work/tput.dat"
for m in $modes; do
	step "throughput and latency, durability $m"
	"$top/bench/redis-compare.sh" -b "$build" -d "$m" -n $tput_n -r $tput_runs -P "1 16" \
		-L $lat_rate -T $lat_secs -D "$work/tput.dat" >"$work/tput-$m.md"
done
step "memory"
$py "$top/bench/memory.py" --crdtd "$crdtd" "${mem_args[@]}" --data "$work/mem.dat" >"$work/mem.md"
step "replication rate"
$py "$top/bench/gossip_rate.py" --crdtd "$crdtd" --ceiling "$build/bench/udp_ceiling" \
	"${gossip_args[@]}" --data "$work/gossip.dat" >"$work/gossip.md"
step "spread"
$py "$top/bench/spread.py" --crdtd "$crdtd" "${spread_args[@]}" --data "$work/spread.dat" >"$work/spread.md"
$py "$top/bench/spread.py" --crdtd "$crdtd" "${lossy_args[@]}" >"$work/spread-loss.md"
step "convergence"
$py "$top/bench/convergence.py" --crdtd "$crdtd" "${conv_args[@]}" --plots "$out" >"$work/conv.md" \
	2>"$work/conv.log" || true
step "latency while a large set replicates"
$py "$top/bench/replicating_latency.py" --crdtd "$crdtd" "${replat_args[@]}" >"$work/replat.md"
step "steady state"
$py "$top/bench/digest_rounds.py" --crdtd "$crdtd" "${steady_args[@]}" >"$work/steady.md"
step "cost of one change"
$py "$top/bench/delta_cost.py" --crdtd "$crdtd" "${dcost_args[@]}" >"$work/dcost.md"
step "catch-up"
$py "$top/bench/catchup.py" --crdtd "$crdtd" --ceiling "$build/bench/udp_ceiling" \
	"${catchup_args[@]}" >"$work/catchup.md"
step "libcrdt"
"$build/bench/bench_crdt" "${crdt_args[@]}" >"$work/crdt.md"
step "report"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))

# ---- aims ---------------------------------------------------------------------
# client ops/s: every (mode, command, pipeline) pair's ratio
tput_aim=$(awk '$1 == "tput" { printf "%.4f %s %s P%s\n", $6 / $5, $2, $3, $4 }' "$work/tput.dat" | sort -g |
	awk '{ r[NR] = $1; if ($1 < 0.8) { miss++; m = m sprintf("%s %s %s %.2f; ", $2, $3, $4, $1) } }
	END { if (!NR) { print "not measured"; exit }
		sub(/; $/, "", m)
		printf "%d of %d pairs at ≥ 0.8 (ratios %.2f–%.2f, median %.2f)%s", NR - miss, NR, r[1], r[NR], r[int((NR + 1) / 2)],
		miss ? ": **missed** for " m : ": met" }')
# the same pairs against redis-server with two replicas of its own (the same
# work as crdtd's three replicas, on the same cores): information beside the
# aim, not the aim
tput_repl=$(awk '$1 == "tput" && $7 > 0 { n++; r = $6 / $7; if (r >= 0.8) ok++; if (n == 1 || r < lo) lo = r; if (n == 1 || r > hi) hi = r }
	END { if (n) printf "; against redis-server with 2 replicas of its own on the same cores, %d of %d pairs at ≥ 0.8 (ratios %.2f–%.2f)", ok, n, lo, hi }' "$work/tput.dat")
mem_aim=$(awk '$1 == "orset" { r = $3 / $6; ra = $4 / $7
	printf "%.2f× redis by VmRSS, %.2f× by RssAnon (%d elements): %s", r, ra, $2, r <= 1.5 ? "met" : "**missed**" }' "$work/mem.dat")
gossip_aim=$(awk '/raw sendmmsg/ { raw = $3 } /first transfer/ { g = $4 } /"gossip A->B"/ { s = $3 }
	END { if (raw) printf "%.3f of the raw rate while a whole set goes to an empty replica (%d vs %d datagrams/s): %s; in sync, %d datagrams/s (digests)", g / raw, g, raw, (g / raw >= 0.5) ? "met" : "**missed**", s }' "$work/gossip.dat")
conv_aim=$(awk -F'|' '$2 + 0 == 3 && $3 + 0 == 50000 && $4 + 0 == 30 {
	gsub(/ /, "", $6); gsub(/ /, "", $9); gsub(/ /, "", $8); found = 1
	if ($6 ~ /did/) print "did not converge: **missed**"
	else printf "median %s ms = %s rounds of 100 ms (%s rounds counted at the writer): %s", $6, $8, $9, ($8 + 0 <= 10) ? "met" : "**missed**" }
	END { if (!found) print "not measured (--quick leaves the 50,000-element points out)" }' "$work/conv.md")
# issue 12's: client latency while the set replicates, each ratio ≤ 2
replat_aim=$(awk -F'|' '$2 ~ /\(/ && $6 + 0 > 0 { m = $2; gsub(/^ +| +$/, "", m); sub(/ .*/, "", m)
	pl = $3; gsub(/ /, "", pl); m = m " (" pl ")"
	p50 = $6 + 0; p99 = $7 + 0; n++; s = s sprintf("%s %.2f / %.2f; ", m, p50, p99)
	if (p50 > 2 || p99 > 2) miss = miss (miss ? ", " : "") m }
	END { if (!n) { print "not measured"; exit }
		printf "p50 / p99 ratios to redis-server: %s%s", s, miss ? "**missed** for " miss : "met" }' "$work/replat.md")
# steady state: every node's bytes a peer a round ≤ 2 KB, CPU ≤ 1 % of a core
steady_aim=$(awk -F'|' '$2 ~ /yes/ && $3 ~ /n[0-9]/ { n++; if ($5 + 0 > b) b = $5 + 0; if ($9 + 0 > c) c = $9 + 0 }
	END { if (!n) { print "not measured"; exit }
		printf "at most %.0f bytes a peer a round and %.2f %% of a core (%d nodes): %s", b, c, n,
			(b <= 2048 && c <= 1) ? "met" : "**missed**" }' "$work/steady.md")
# one SADD into the large set: ≤ 2 datagrams and ≤ 300 bytes to each peer
dcost_aim=$(awk -F'|' '$2 ~ /yes/ { d = $3 + 0; b = $4 + 0; ad = $6 + 0; ab = $7 + 0; f = 1 }
	END { if (!f) { print "not measured"; exit }
		printf "%d datagram(s), %d bytes to the peer (its ACK back: %d, %d bytes): %s", d, b, ad, ab,
			(d <= 2 && b <= 300) ? "met" : "**missed**" }' "$work/dcost.md")
# catch-up: ≥ 0.3 × the raw rate, and at 30 % loss within 3 × the time
catchup_aim=$(awk -F'|' '/^Time at/ { split($0, w, ": "); t = w[2] + 0 }
	$2 ~ /^ *0 %/ && !g { g = $6 + 0; r = $7 + 0 }
	END { if (!g) { print "not measured"; exit }
		printf "%.3f of the raw rate (%d datagrams/s); at 30 %% loss %.2f × the lossless time: %s", r, g, t,
			(r >= 0.3 && t <= 3) ? "met" : (r < 0.3 ? "**missed** (rate)" : "**missed** (loss)") }' "$work/catchup.md")
# spread of a write to 10 replicas: median ≤ 3 ms
spread_aim=$(awk '$1 == 10 { f = 1; printf "median %.2f ms to 10 replicas: %s", $2, $2 <= 3 ? "met" : "**missed**" }
	END { if (!f) print "not measured (--quick runs 3 replicas)" }' "$work/spread.dat")

# ---- plots --------------------------------------------------------------------
plots=()
if command -v gnuplot >/dev/null; then
	for m in $modes; do
		awk -v m="$m" '$1 == "tput" && $2 == m { printf "\"%s P%s\" %.3f\n", $3, $4, $6 / $5 }' "$work/tput.dat"
	done >"$work/ratio-all.dat"
	# one bar cluster per command and pipeline, one bar per durability mode
	{
		printf 'command'; for m in $modes; do printf ' %s' "$m"; done; echo
		awk '$1 == "tput" { k = $3 " P" $4; if (!(k in seen)) { seen[k] = 1; order[++n] = k } r[k, $2] = $6 / $5; modes[$2] = 1 }
			END { for (i = 1; i <= n; i++) { printf "\"%s\"", order[i]; split(M, ms, " "); for (j = 1; j in ms; j++) printf " %.3f", r[order[i], ms[j]]; print "" } }' \
			M="$modes" "$work/tput.dat"
	} >"$out/bench-throughput.dat"
	ncol=$(wc -w <<<"$modes")
	gnuplot <<-GP
	set terminal pngcairo size 900,500 noenhanced
	set output "$out/bench-throughput.png"
	set title "crdtd ops/s / redis-server ops/s, same persistence (redis-benchmark, 50 clients)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set boxwidth 0.9
	set yrange [0:*]
	set ylabel "ratio (1 = as fast as redis-server)"
	set xtics rotate by -30
	set grid ytics
	set key top right
	set arrow from graph 0, first 0.8 to graph 1, first 0.8 nohead dt 2 lw 2 lc rgb "red"
	set label "aim 0.8" at graph 0.01, first 0.85 tc rgb "red"
	plot for [c=2:$((ncol + 1))] "$out/bench-throughput.dat" using c:xtic(1) title columnhead(c)
	GP
	plots+=("bench-throughput.png")
	awk '$1 == "lat" { k = $3 " (" $2 ")"; if (!(k in seen)) { seen[k] = 1; order[++n] = k } v[k, $4] = $5 " " $6 " " $7 }
		END { print "# command redis_p50 redis_p99 redis_p999 crdtd_p50 crdtd_p99 crdtd_p999 (µs)"
			for (i = 1; i <= n; i++) printf "\"%s\" %s %s\n", order[i], v[order[i], "redis"], v[order[i], "crdtd"] }' \
		"$work/tput.dat" >"$out/bench-latency.dat"
	gnuplot <<-GP
	set terminal pngcairo size 900,500 noenhanced
	set output "$out/bench-latency.png"
	set title "latency at $lat_rate requests/s, one connection (µs, log scale)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set logscale y
	set ylabel "µs"
	set xtics rotate by -30
	set grid ytics
	set key top left
	plot "$out/bench-latency.dat" using 2:xtic(1) title "redis p50", "" using 5 title "crdtd p50", \
	     "" using 3 title "redis p99", "" using 6 title "crdtd p99", \
	     "" using 4 title "redis p99.9", "" using 7 title "crdtd p99.9"
	GP
	plots+=("bench-latency.png")
	awk '!/^#/ { printf "\"%s\" %.1f %.1f\n", $1, $3 / $2, $6 / $2 }' "$work/mem.dat" >"$out/bench-memory.dat"
	gnuplot <<-GP
	set terminal pngcairo size 700,450 noenhanced
	set output "$out/bench-memory.png"
	set title "RSS growth per element (set member, counter, register)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set logscale y
	set ylabel "bytes per element (log scale)"
	set grid ytics
	set key top left
	plot "$out/bench-memory.dat" using 3:xtic(1) title "redis-server", "" using 2 title "crdtd"
	GP
	plots+=("bench-memory.png")
	cp "$work/gossip.dat" "$out/bench-gossip.dat"
	gnuplot <<-GP
	set terminal pngcairo size 700,450 noenhanced
	set output "$out/bench-gossip.png"
	set title "1,400-byte datagrams/s on loopback, same run"
	set style data histograms
	set style fill solid 0.8 border -1
	set boxwidth 0.7
	set yrange [0:*]
	set logscale y
	set yrange [100:*]
	set ylabel "datagrams/s received (log scale)"
	set grid ytics
	unset key
	plot "$out/bench-gossip.dat" using 2:xtic(1)
	GP
	plots+=("bench-gossip.png")
	cp "$work/spread.dat" "$out/bench-spread.dat"
	gnuplot <<-GP
	set terminal pngcairo size 700,450 noenhanced
	set output "$out/bench-spread.png"
	set title "write readable on every replica (median ms, log scale)"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.8 border -1
	set logscale y
	set ylabel "ms"
	set grid ytics
	set key top left
	plot "$out/bench-spread.dat" using 2:xtic(sprintf("%d replicas", column(1))) title "crdtd", "" using 3 title "serf event"
	GP
	plots+=("bench-spread.png")
fi

# ---- the report -----------------------------------------------------------------
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cores=$(nproc)
rep=$out/benchmarks.md
{
	echo "# Benchmarks"
	echo
	echo "<!-- Generated by scripts/bench.sh; do not edit (hand-written notes: bench/notes.md). -->"
	echo
	echo "Machine: $model, $cores cores ($(uname -sr)), a shared and noisy VM: load average $load_start at the"
	echo "start and $load_end at the end. Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Build: \`$(sed -n "s/^buildtype *= *//p" /dev/null)$(meson introspect "$build" --buildoptions 2>/dev/null | $py -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo unknown)\`."
	echo "Command (every table below comes from this one run, $elapsed s):"
	echo
	echo "    $cmdline"
	echo
	[ $quick = 0 ] || { echo "**--quick run: small sizes and single runs, to check that everything runs; do not quote these numbers.**"; echo; }
	echo "Everything runs on 127.0.0.1; every comparison is measured in the same run, interleaved where"
	echo "it can be, and given as a ratio; absolute figures on this machine move by ±30 % from run to run."
	echo
	echo "## Aims"
	echo
	echo "| aim | measured |"
	echo "|---|---|"
	echo "| client ops/s ≥ 0.8 × redis-server with the same persistence | $tput_aim$tput_repl |"
	echo "| memory per OR-Set element ≤ 1.5 × redis-server's set | $mem_aim |"
	echo "| gossip ≥ 0.5 × the raw loopback datagram rate | $gossip_aim |"
	echo "| 50,000-element OR-Set under 30 % loss converges within 10 gossip rounds | $conv_aim |"
	echo "| issue 12: latency while 2 peers replicate a large set taking 1,000 SADD/s, p50 and p99 ≤ 2 × redis-server's | $replat_aim |"
	echo "| issue 12: steady state, 3 nodes in sync holding the keys and the set: ≤ 2 KB of gossip a peer a round, ≤ 1 % of a core | $steady_aim |"
	echo "| issue 12: one SADD into the large set costs each peer ≤ 2 datagrams and ≤ 300 bytes | $dcost_aim |"
	echo "| issue 12: an empty peer receives the large set at ≥ 0.3 × the raw rate; at 30 % loss within 3 × the time | $catchup_aim |"
	echo "| issue 12: a write reaches 10 replicas in ≤ 3 ms (median) | $spread_aim |"
	echo
	echo "What limits the missed ones is in \"Where the time goes\" at the end of the generated part."
	echo
	echo "## Client throughput and latency"
	echo
	echo "\`bench/redis-compare.sh -d MODE -n $tput_n -r $tput_runs -P \"1 16\" -L $lat_rate -T $lat_secs\` for each mode:"
	echo "redis-benchmark, 50 clients, pipeline 1 and 16 (\`-n\` requests at 16, a quarter at 1, a"
	echo "25th of those for SMEMBERS); \`-r 100000\` random keys and members; medians of $tput_runs runs,"
	echo "the servers alternating. crdtd is one of 3 replicas (full mesh, interval 1000 ms), so every"
	echo "write is also pushed to 2 peers; redis-server runs alone (the aim's reference), and a second"
	echo "redis-server with 2 replicas of its own (\`replicaof\`, same persistence) takes the same load: the"
	echo "same work as crdtd's three replicas on the same two cores. SADD adds random members to one set,"
	echo "which grows to 100,000 members over the runs (crdtd sends each write's delta to its peers). Latency:"
	echo "\`build/bench/latency\`, one connection, $lat_rate requests/s open-loop for $lat_secs s per command and"
	echo "server, measured from when each request was due (SADD into a set of its own), with the client and"
	echo "the server's main thread pinned to one CPU (see the script's help)."
	echo
	for m in $modes; do
		echo "### durability $m"
		echo
		cat "$work/tput-$m.md"
		echo
	done
	for p in bench-throughput.png bench-latency.png; do
		[[ " ${plots[*]} " == *" $p "* ]] && echo "![$p]($p)" && echo
	done
	echo "## Memory"
	echo
	echo "\`bench/memory.py ${mem_args[*]}\`: fresh servers for each case, crdtd with durability none and no peers,"
	echo "redis-server with no persistence; the data loaded through the client port; the growth of each process's"
	echo "VmRSS and RssAnon (/proc/PID/status) and of INFO memory used_memory. crdtd's VmRSS includes"
	echo "the LMDB store's file-backed pages (RssFile); its used_memory does not see libcrdt's own"
	echo "huge-page tables (2 MiB and up), so for large sets RSS is the figure to compare. The counters were"
	echo "made by helper daemons with replica ids of their own, as many as the counters have replicas (see the program's help)."
	echo
	cat "$work/mem.md"
	echo
	[[ " ${plots[*]} " == *" bench-memory.png "* ]] && echo "![bench-memory.png](bench-memory.png)" && echo
	echo "## Replication rate"
	echo
	echo "\`bench/gossip_rate.py ${gossip_args[*]}\` (its help explains the two phases)."
	echo
	cat "$work/gossip.md"
	echo
	[[ " ${plots[*]} " == *" bench-gossip.png "* ]] && echo "![bench-gossip.png](bench-gossip.png)" && echo
	echo "## Spread of a write"
	echo
	echo "\`bench/spread.py ${spread_args[*]}\`: crdtd full mesh (interval 1000 ms, push_delay_ms 1, durability"
	echo "none); the clock runs from the SET on one replica until a GET on every other returns it (each"
	echo "replica polled in turn). Serf: Debian's \`serf\` agents on loopback (default LAN gossip settings),"
	echo "\`serf event -coalesce=false\` on one agent, until every agent's event handler has written it."
	echo
	cat "$work/spread.md"
	echo
	[[ " ${plots[*]} " == *" bench-spread.png "* ]] && echo "![bench-spread.png](bench-spread.png)" && echo
	echo "Under loss: \`bench/spread.py ${lossy_args[*]}\`, the same clusters with every node's shim losing"
	echo "each datagram it sends at that rate (a push, or its ACK); a lost one goes again by the tail's"
	echo "probe of delta intervals ([protocol.md](protocol.md#delta-intervals)), not at the next round."
	echo
	cat "$work/spread-loss.md"
	echo
	echo "## Convergence"
	echo
	echo "\`bench/convergence.py ${conv_args[*]} --plots OUT\` (its help has the method): a fresh cluster per point,"
	echo "interval_ms 100, the shim losing each node's outgoing datagrams at the given rate."
	echo
	cat "$work/conv.md"
	if grep -q "DID NOT CONVERGE" "$work/conv.log"; then echo; grep "DID NOT CONVERGE" "$work/conv.log" | sed 's/^ */- /'; fi
	echo
	for p in convergence-size.png convergence-nodes.png; do
		[ -f "$out/$p" ] && echo "![$p]($p)" && echo
	done
	echo "## Replication at scale (issue 12's aims)"
	echo
	echo "Latency while the set replicates: \`bench/replicating_latency.py ${replat_args[*]}\` (its help has the method)."
	echo "Each server is measured with the latency client and the server's loop thread on one CPU (\`same\`) and"
	echo "on two (\`apart\`): on this VM that placement alone moves a GET's p50 about 2.5 times for either"
	echo "server, and left to the scheduler it fell either way from run to run. Both servers hold the data at"
	echo "once and their windows alternate; a row gives the medians of its windows (their ranges in the last"
	echo "columns)."
	echo
	cat "$work/replat.md"
	echo
	echo "Steady state: \`bench/digest_rounds.py ${steady_args[*]}\`."
	echo
	cat "$work/steady.md"
	echo
	echo "Cost of one change: \`bench/delta_cost.py ${dcost_args[*]}\`."
	echo
	cat "$work/dcost.md"
	echo
	echo "Catch-up: \`bench/catchup.py ${catchup_args[*]}\`."
	echo
	cat "$work/catchup.md"
	echo
	echo "## libcrdt microbenchmarks"
	echo
	echo "\`build/bench/bench_crdt ${crdt_args[*]}\` (runs, largest set for the piece merge); see the notes below"
	echo "for what each row measures."
	echo
	cat "$work/crdt.md"
	echo
	if [ -f "$top/bench/findings.md" ]; then cat "$top/bench/findings.md"; echo; fi
	cat "$top/bench/notes.md"
} >"$rep"
step "wrote $rep"
