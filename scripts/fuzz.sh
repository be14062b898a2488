#!/bin/sh
# Build every libFuzzer target with clang 14 (-fsanitize=fuzzer,address,undefined)
# and fuzz each for SECONDS (default 60), starting from tests/fuzz/corpus/ and
# with tests/fuzz/<target>.dict when there is one.  --long is 900 s each (90
# minutes for all six), for a run before a release or after a parser change.
# New inputs go to build-fuzz/work/<target>/ (the committed corpus is left as
# it is), crashes to build-fuzz/crashes/.  Prints, per target, the runs, the
# coverage and what was found; exits non-zero when any target crashed.
#
#   scripts/fuzz.sh [SECONDS|--long] [TARGET...]   targets: wire state resp config storage http
set -eu

case "${1:-}" in
-h|--help)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac

cd "$(dirname "$0")/.."
secs=${1:-60}
[ "$secs" = --long ] && secs=900
[ $# -gt 0 ] && shift
targets=${*:-"wire state resp config storage http"}

CC=${CC:-clang-14}
command -v "$CC" >/dev/null || CC=clang
out=build-fuzz
mkdir -p "$out/obj" "$out/work" "$out/crashes"

pkgs="libuv libcjson uuid lmdb libsodium"
# the version meson gives the daemon (src/daemon/meson.build)
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)
cflags="-g -O1 -std=gnu11 -fno-omit-frame-pointer -fno-sanitize-recover=all
	-DCRDTD_VERSION=\"$version\" -Iinclude -Isrc/daemon $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lhttp_parser -lm"
san="address,undefined"

# the libraries once, instrumented for coverage but without libFuzzer's main
srcs=$(find src/crdt src/daemon -name '*.c' ! -path src/daemon/main.c | sort)
objs=""
for s in $srcs; do
	o="$out/obj/$(echo "$s" | tr / _).o"
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$0" -nt "$o" ] ||
	   [ -n "$(find src include -name '*.h' -newer "$o" | head -1)" ]; then
		echo "$CC -c $s"
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer-no-link,$san -c "$s" -o "$o"
	fi
done

status=0
summary=""
for t in $targets; do
	bin="$out/fuzz_$t"
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer,$san "tests/fuzz/fuzz_$t.c" $objs $libs -o "$bin"
	mkdir -p "$out/work/$t"
	log="$out/fuzz_$t.log"
	echo "== fuzz $t for ${secs}s"
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	rc=0
	# shellcheck disable=SC2086 # $dict is one word or none
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -artifact_prefix="$out/crashes/$t-" $dict \
		"$out/work/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	if [ "$rc" -ne 0 ]; then
		found="CRASH (exit $rc): see $log and $out/crashes/$t-*"
		tail -30 "$log"
		status=1
	else
		found="no crash"
	fi
	line="fuzz $t: ${secs}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, $found"
	echo "$line"
	summary="$summary$line
"
done
echo "== summary"
printf '%s' "$summary"
exit $status
