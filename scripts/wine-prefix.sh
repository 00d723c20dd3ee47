# Sourced by smoke.sh and wine-test.sh: `wine_prefix DIR` makes DIR a fresh
# 64-bit Wine prefix, quiet and without the Mono/Gecko installers, and gives
# it the bcryptprimitives.dll stand-in when this Wine lacks one (Wine 8, as
# in Debian 12; see scripts/wine/bcryptprimitives.c).
wine_prefix() {
    command -v wine >/dev/null || {
        echo "wine is not installed (Debian packages wine wine64)" >&2
        return 1
    }
    export WINEPREFIX=$1 WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    mkdir -p "$WINEPREFIX"
    wineboot --init >/dev/null 2>&1 || true
    local system32="$WINEPREFIX/drive_c/windows/system32"
    if [ ! -e "$system32/bcryptprimitives.dll" ]; then
        x86_64-w64-mingw32-gcc -O2 -shared -o "$system32/bcryptprimitives.dll" \
            "$(dirname "${BASH_SOURCE[0]}")/wine/bcryptprimitives.c" -ladvapi32
    fi
}
