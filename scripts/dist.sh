#!/usr/bin/env bash
# Builds release archives named like tbx's, into dist/:
#   scripts/dist.sh windows   x86_64-pc-windows-gnu, cross-built with mingw-w64
#                             -> dist/tbx-<version>-win.zip (tbx.exe)
#   scripts/dist.sh linux     x86_64-unknown-linux-musl, fully static
#                             -> dist/tbx-<version>-linux-intel.zip
#   scripts/dist.sh mac       aarch64-apple-darwin, on an Apple Silicon Mac
#                             -> dist/tbx-<version>-mac-applesilicon.zip
# Several platforms in one call build in one cargo invocation, so their
# link-time optimisation overlaps. Each archive holds the binary, LICENSE and
# README.md, and gets a .sha256 file beside it. `tbx license` in the binary
# lists the licenses of everything compiled in.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    echo "usage: scripts/dist.sh windows|linux|mac [...]" >&2
    exit 2
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
targets=()
for platform in "$@"; do
    case "$platform" in
        windows)
            targets+=(x86_64-pc-windows-gnu)
            command -v x86_64-w64-mingw32-gcc >/dev/null || {
                echo "dist.sh: windows needs x86_64-w64-mingw32-gcc (Debian package gcc-mingw-w64-x86-64)" >&2
                exit 1
            }
            ;;
        linux)
            targets+=(x86_64-unknown-linux-musl)
            command -v musl-gcc >/dev/null || {
                echo "dist.sh: linux needs musl-gcc (Debian package musl-tools)" >&2
                exit 1
            }
            ;;
        mac)
            targets+=(aarch64-apple-darwin)
            ;;
        *)
            echo "dist.sh: unknown platform '$platform'; expected windows, linux or mac" >&2
            exit 2
            ;;
    esac
done

if command -v rustup >/dev/null; then
    rustup target add "${targets[@]}" >/dev/null
fi

# ring and the bundled SQLite are C; name the compilers rather than hoping
# cc-rs guesses them.
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
export CC_x86_64_unknown_linux_musl=musl-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc

build_args=(build --release --locked)
for target in "${targets[@]}"; do
    build_args+=(--target "$target")
done
cargo "${build_args[@]}"

mkdir -p dist
for platform in "$@"; do
    case "$platform" in
        windows) target=x86_64-pc-windows-gnu; suffix=win; exe=tbx.exe ;;
        linux) target=x86_64-unknown-linux-musl; suffix=linux-intel; exe=tbx ;;
        mac) target=aarch64-apple-darwin; suffix=mac-applesilicon; exe=tbx ;;
    esac
    archive="dist/tbx-$version-$suffix.zip"
    stage=$(mktemp -d)
    cp "target/$target/release/$exe" LICENSE README.md "$stage/"
    rm -f "$archive" "$archive.sha256"
    # Zipped under a temporary name: an interrupted run leaves no archive
    # that looks complete.
    (cd "$stage" && python3 -m zipfile -c "$OLDPWD/$archive.partial" "$exe" LICENSE README.md)
    mv "$archive.partial" "$archive"
    rm -rf "$stage"
    (cd dist && { sha256sum "$(basename "$archive")" 2>/dev/null \
        || shasum -a 256 "$(basename "$archive")"; } > "$(basename "$archive").sha256")
    size=$(wc -c < "target/$target/release/$exe" | tr -d ' ')
    echo "dist.sh: $archive ($target, $exe $size bytes)"
done
