#!/bin/sh
# Install the Debian 12 packages crdtd needs to build, test and benchmark.
# Run as root on a fresh machine; safe to run again (apt skips what is there).
set -eu

case "${1:-}" in
-h|--help)
	echo "usage: $0    install build and test dependencies with apt-get (needs root)"
	exit 0 ;;
esac

pkgs="meson ninja-build pkg-config gcc libc6-dev
libuv1-dev libcjson-dev uuid-dev libcmocka-dev libinih-dev liblmdb-dev
libsodium-dev clang-14 libclang-rt-14-dev
redis-server redis-tools python3 python3-redis netcat-openbsd
nftables iproute2 gnuplot-nox serf faketime
libhttp-parser-dev prometheus chromium nodejs prometheus-redis-exporter"
# npm installs the Node.js client of tests/integration/node; a nodejs from
# elsewhere (NodeSource) brings its own npm, which Debian's would conflict with
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing; run this script as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
