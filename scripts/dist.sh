#!/usr/bin/env bash
# Build the release binary to ship: target/dist/lintel without debug information (about a fifth of the size), and
# target/dist/lintel.debug with it (line tables, split off with objcopy and linked by .gnu_debuglink, so gdb and
# addr2line find it when it sits beside the binary or in /usr/lib/debug).
#
#   scripts/dist.sh            then: install -m 0755 target/dist/lintel /usr/local/bin/
set -euo pipefail
cd "$(dirname "$0")/.."
command -v objcopy >/dev/null || { echo "error: objcopy (binutils) is needed to split the debug information" >&2; exit 1; }
cargo build --release --locked
mkdir -p target/dist
rm -f target/dist/lintel target/dist/lintel.debug
objcopy --only-keep-debug target/release/lintel target/dist/lintel.debug
objcopy --strip-debug --add-gnu-debuglink=target/dist/lintel.debug target/release/lintel target/dist/lintel
chmod 0644 target/dist/lintel.debug
ls -l target/dist/lintel target/dist/lintel.debug
