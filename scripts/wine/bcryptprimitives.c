/* Test support only, never shipped: Wine 8 (Debian 12) lacks
 * bcryptprimitives.dll, whose ProcessPrng the Rust standard library (1.78+)
 * imports for random numbers on Windows 10 and later. Windows has the real
 * one; this stand-in lets the smoke test run tbx.exe under Wine by drawing
 * the same bytes from RtlGenRandom (SystemFunction036 in advapi32). */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
