#!/usr/bin/env bash
# Smoke-tests release archives made by scripts/dist.sh, as a user would run
# them: unzip, `tbx version`, then `tbx dev demo` into the default home,
# which must produce devices.csv, devices.json and devices.xlsx.
#   *-win.zip          under Wine, in a fresh prefix: the home must be
#                      %USERPROFILE%\.toolbox, printed paths native, and
#                      non-ASCII host names intact
#   *-linux-intel.zip  must be fully static (no interpreter, no shared
#                      libraries); as root it also runs in an empty chroot
#   *-mac-*.zip        runs natively on macOS
# Usage: scripts/smoke.sh dist/tbx-<version>-<platform>.zip [...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wine-prefix.sh

fail() {
    echo "smoke.sh: $*" >&2
    exit 1
}

# The demo prints "The report generated: <path>" for each report.
check_reports() {
    local output=$1 sep=$2
    for name in devices.csv devices.json devices.xlsx; do
        grep -q "^The report generated: .*${sep}reports${sep}${name}\$" <<<"$output" \
            || fail "the demo did not report $name:"$'\n'"$output"
    done
}

smoke_windows() {
    local dir=$1
    wine_prefix "$dir/prefix" || fail "cannot make a Wine prefix"
    local out
    out=$(cd "$dir" && wine tbx.exe version)
    grep -q "^target *x86_64-pc-windows-gnu" <<<"$out" || fail "tbx.exe version: $out"

    out=$(cd "$dir" && env -u TOOLBOX_HOME wine tbx.exe dev demo)
    check_reports "$out" '\\'
    local user=${USER:-$(id -un)}
    grep -q "^The report generated: C:\\\\users\\\\$user\\\\.toolbox\\\\jobs\\\\" <<<"$out" \
        || fail "reports are not under %USERPROFILE%\\.toolbox:"$'\n'"$out"
    grep -q "Ordinateur-Élodie-日本語-💻" <<<"$out" || fail "non-ASCII host name garbled on stdout"
    local reports
    reports=$(ls -d "$WINEPREFIX/drive_c/users/$user/.toolbox/jobs/"*/reports)
    for name in devices.csv devices.json devices.xlsx; do
        [ -s "$reports/$name" ] || fail "$reports/$name is missing or empty"
    done
    grep -q "Ordinateur-Élodie-日本語-💻" "$reports/devices.json" \
        || fail "non-ASCII host name garbled in devices.json"

    # A home typed with forward slashes is still printed the Windows way.
    out=$(cd "$dir" && TOOLBOX_HOME=C:/tbx-home wine tbx.exe dev demo)
    grep -q '^The report generated: C:\\tbx-home\\jobs\\[^/]*\\reports\\devices.csv$' <<<"$out" \
        || fail "TOOLBOX_HOME=C:/tbx-home is not printed natively:"$'\n'"$out"
}

smoke_linux() {
    local dir=$1
    if readelf -l "$dir/tbx" | grep -q INTERP; then
        fail "the Linux binary asks for a dynamic loader"
    fi
    if readelf -d "$dir/tbx" | grep -q NEEDED; then
        fail "the Linux binary needs shared libraries: $(readelf -d "$dir/tbx" | grep NEEDED)"
    fi
    local out
    out=$("$dir/tbx" version)
    grep -q "^target *x86_64-unknown-linux-musl" <<<"$out" || fail "tbx version: $out"
    out=$(env -u TOOLBOX_HOME HOME="$dir/home" "$dir/tbx" dev demo)
    check_reports "$out" /
    grep -q "^The report generated: $dir/home/.toolbox/jobs/" <<<"$out" \
        || fail "reports are not under \$HOME/.toolbox"
    if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
        # Nothing but the binary: no libc, no /etc, no certificates.
        local jail="$dir/jail"
        mkdir -p "$jail/home"
        cp "$dir/tbx" "$jail/tbx"
        out=$(env -i HOME=/home "$(command -v chroot)" "$jail" /tbx dev demo)
        check_reports "$out" /
        [ -s "$(ls -d "$jail"/home/.toolbox/jobs/*/reports)/devices.xlsx" ] \
            || fail "no devices.xlsx from the chroot run"
        echo "smoke.sh: the static binary ran in an empty chroot"
    fi
}

smoke_mac() {
    local dir=$1 out
    out=$("$dir/tbx" version)
    grep -q "^target *aarch64-apple-darwin" <<<"$out" || fail "tbx version: $out"
    out=$(env -u TOOLBOX_HOME HOME="$dir/home" "$dir/tbx" dev demo)
    check_reports "$out" /
}

[ $# -gt 0 ] || fail "usage: scripts/smoke.sh dist/tbx-<version>-<platform>.zip [...]"
for archive in "$@"; do
    [ -f "$archive" ] || fail "no such archive: $archive"
    dir=$(mktemp -d)
    python3 -m zipfile -e "$archive" "$dir"
    chmod +x "$dir"/tbx* 2>/dev/null || true
    case "$archive" in
        *-win.zip) smoke_windows "$dir" ;;
        *-linux-intel.zip) smoke_linux "$dir" ;;
        *-mac-applesilicon.zip) smoke_mac "$dir" ;;
        *) fail "cannot tell the platform of $archive" ;;
    esac
    rm -rf "$dir"
    echo "smoke.sh: $archive passed"
done
