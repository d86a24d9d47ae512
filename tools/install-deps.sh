#!/bin/sh
# Makes sure the Debian packages userec builds and tests with are installed.
# As root it installs what is missing; otherwise it names the missing packages in one line and fails.
set -eu
# clang-14, libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) and libomp-14-dev (OpenMP for clang): `make fuzz`.
# qemu-user: the tests run the binary as CPUs older than this one (an AVX2-only Haswell, the first x86-64).
PKGS="build-essential pkg-config libopenblas-dev libutf8proc-dev zlib1g-dev python3 python3-numpy python3-sentencepiece nodejs npm clang-14 libclang-rt-14-dev libomp-14-dev qemu-user"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs from NodeSource ships npm itself; do not ask apt for Debian's npm then.
case "$missing" in *" npm"*) command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//') ;; esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
    echo "install-deps: missing Debian packages; run: sudo apt-get install$missing" >&2
    exit 1
fi
