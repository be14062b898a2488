#!/bin/sh
# Build and run every test twice: a -Werror build, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build.  Exits non-zero when anything fails.
set -eu

case "${1:-}" in
-h|--help)
	echo "usage: $0    install dependencies (apt, needs root), build, run all tests"
	exit 0 ;;
esac

cd "$(dirname "$0")/.."
scripts/install-deps.sh

[ -d build ] || meson setup build -Dwerror=true
ninja -C build
meson test -C build -v --print-errorlogs

[ -d build-asan ] || meson setup build-asan -Dwerror=true \
	-Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan -v --print-errorlogs

# every libFuzzer target (clang, ASan+UBSan) for a short while, from its seed
# corpus, so that a regression in a decoder shows here: about 2 minutes
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
