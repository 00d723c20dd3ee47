#!/usr/bin/env bash
# Smoke-tests release archives made by scripts/dist.sh, as a user would run
# them: unzip, `tbx version`, then `tbx dev demo` into the default home,
# which must produce devices.csv, devices.json and devices.xlsx.
#   *-win.zip          under Wine, in a fresh prefix: the home must be
#                      %USERPROFILE%\.toolbox, printed paths native, and
#                      non-ASCII host names intact; `config auth add` keeps
#                      the refresh token in Windows Credential Manager
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

    # -lang auto on a Japanese Windows: no LANG in the Windows environment,
    # so the language comes from the user's locale.
    out=$(cd "$dir" && LANG=ja_JP.UTF-8 LC_ALL=ja_JP.UTF-8 \
        wine cmd /c "set LANG=& set LC_ALL=& set LC_MESSAGES=& tbx.exe dev demo -members 3")
    grep -q "^レポートを作成しました: C:" <<<"$out" \
        || fail "a Japanese Windows locale does not give Japanese messages:"$'\n'"$out"

    smoke_windows_ctrl_c "$dir"
    smoke_windows_credential_store "$dir"

    # A home typed with forward slashes is still printed the Windows way.
    out=$(cd "$dir" && TOOLBOX_HOME=C:/tbx-home wine tbx.exe dev demo)
    grep -q '^The report generated: C:\\tbx-home\\jobs\\[^/]*\\reports\\devices.csv$' <<<"$out" \
        || fail "TOOLBOX_HOME=C:/tbx-home is not printed natively:"$'\n'"$out"
}

# Ctrl-C mid-run: Wine turns SIGINT into CTRL_C_EVENT for the console
# handler, as Windows does for a keypress. Exit 4, no report, and the job
# log ends with "interrupted". The simulator is tbx.exe's own, made slow.
smoke_windows_ctrl_c() {
    local dir=$1 sim_out="$dir/sim.out" home="$dir/ctrl-c-home"
    (cd "$dir" && exec wine tbx.exe dev simulate -members 1000 -latency-ms 500 >"$sim_out" 2>&1) &
    local url="" token=""
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^export TOOLBOX_DROPBOX_API_URL=//p; s/^ *export TOOLBOX_DROPBOX_API_URL=//p' "$sim_out" | head -n 1 | tr -d '\r')
        token=$(sed -n 's/^ *export TOOLBOX_DROPBOX_TOKEN=//p' "$sim_out" | head -n 1 | tr -d '\r')
        [ -n "$url" ] && [ -n "$token" ] && break
        sleep 0.2
    done
    [ -n "$url" ] || fail "the simulator did not start: $(cat "$sim_out")"
    (cd "$dir" && TOOLBOX_HOME="$home" TOOLBOX_DROPBOX_API_URL="$url" TOOLBOX_DROPBOX_TOKEN="$token" \
        exec wine tbx.exe dropbox team backup device status -start-time -30d -concurrency 1 \
        >"$dir/run.out" 2>"$dir/run.err") &
    local run=$!
    for _ in $(seq 1 100); do
        ls "$home"/jobs/*/logs >/dev/null 2>&1 && break
        sleep 0.2
    done
    sleep 1.5
    pkill -INT -f 'tbx.exe dropbox team backup' || fail "the run had already ended"
    local code=0
    wait "$run" || code=$?
    pkill -INT -f 'tbx.exe dev simulate' || true
    wait || true
    [ "$code" = 4 ] || fail "Ctrl-C: exit $code, expected 4: $(cat "$dir/run.err")"
    grep -q "^Error: interrupted" "$dir/run.err" || fail "Ctrl-C: $(cat "$dir/run.err")"
    local job
    job=$(ls -d "$home"/jobs/*)
    [ -z "$(ls -A "$job/reports")" ] || fail "Ctrl-C left reports: $(ls "$job/reports")"
    gzip -dc "$job/logs/toolbox.log.gz" | tail -n 1 | grep -q '"interrupted"' \
        || fail "Ctrl-C: the job log does not end with interrupted"
    echo "smoke.sh: Ctrl-C under Wine: exit 4, no report, the job log says interrupted"
}

# `config auth add` against tbx.exe's own simulator (the code pasted from
# the authorize page, as a person would) keeps the refresh token in Windows
# Credential Manager (Wine implements CredWriteW/CredReadW); `config auth
# list` says so, a report in a new process reads the token back, and
# `config auth delete` removes it from both places.
smoke_windows_credential_store() {
    local dir=$1
    local sim_out="$dir/cred-sim.out" home="$dir/cred-home" fifo="$dir/cred-code"
    (cd "$dir" && exec wine tbx.exe dev simulate -members 5 >"$sim_out" 2>&1) &
    local sim=$! url=""
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^ *export TOOLBOX_DROPBOX_API_URL=//p' "$sim_out" | head -n 1 | tr -d '\r')
        [ -n "$url" ] && break
        sleep 0.2
    done
    [ -n "$url" ] || fail "the simulator did not start: $(cat "$sim_out")"
    local run=(env -u TOOLBOX_DROPBOX_TOKEN -u TOOLBOX_DROPBOX_REFRESH_TOKEN
        -u TOOLBOX_DROPBOX_APP_KEY TOOLBOX_HOME="$home" TOOLBOX_DROPBOX_API_URL="$url" wine tbx.exe)
    rm -f "$fifo"
    mkfifo "$fifo"
    (cd "$dir" && exec "${run[@]}" config auth add -peer smoke -app-key sim-app-key \
        <"$fifo" >/dev/null 2>"$dir/add.err") &
    local add=$! link=""
    exec 3>"$fifo"
    for _ in $(seq 1 150); do
        link=$(grep -o 'http://127\.0\.0\.1[^ ]*/oauth2/authorize?[^ ]*' "$dir/add.err" | head -n 1 | tr -d '\r' || true)
        [ -n "$link" ] && break
        sleep 0.2
    done
    [ -n "$link" ] || fail "config auth add printed no link: $(cat "$dir/add.err")"
    python3 - "$link" >&3 <<'PY'
import re, sys, urllib.request
page = urllib.request.urlopen(sys.argv[1]).read().decode()
print(re.search(r'<code id="auth-code">([^<]*)</code>', page).group(1))
PY
    exec 3>&-
    wait "$add" || fail "config auth add failed: $(cat "$dir/add.err")"
    grep -q "^The refresh token is kept in Windows Credential Manager\." "$dir/add.err" \
        || fail "the token did not go to Windows Credential Manager: $(cat "$dir/add.err")"
    local out
    out=$(cd "$dir" && "${run[@]}" config auth list)
    grep -q "refresh token in *Windows Credential Manager" <<<"$out" \
        || fail "config auth list does not say where the token lives: $out"
    out=$(cd "$dir" && "${run[@]}" dropbox team backup device status -start-time -30d \
        -peer smoke -output none </dev/null 2>&1) \
        || fail "a report with the token from Windows Credential Manager failed: $out"
    out=$(cd "$dir" && "${run[@]}" config auth delete -peer smoke 2>&1) \
        || fail "config auth delete failed: $out"
    grep -q "from Windows Credential Manager and the auth database" <<<"$out" \
        || fail "config auth delete did not remove the token from both places: $out"
    kill -INT "$sim" 2>/dev/null || true
    wait "$sim" || true
    echo "smoke.sh: config auth add kept the token in Windows Credential Manager under Wine"
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
