#!/usr/bin/env bash
# Runs the whole test suite as Windows code: the library, the test binaries
# and tbx.exe are cross-built for x86_64-pc-windows-gnu and run under Wine,
# against the simulator, over real HTTP on 127.0.0.1. Arguments go to
# `cargo test` (e.g. `--test cli`). Takes a few minutes; not part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wine-prefix.sh
wine_prefix "${TBX_WINE_PREFIX:-$PWD/target/wine-prefix}"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
cargo test --locked --target x86_64-pc-windows-gnu "$@"
