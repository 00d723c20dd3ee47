//! The fingerprint that tells stored events apart: a 64-bit hash of the
//! event's JSON text. It is kept in the event store and compared with the
//! next run's, so it must give the same number in every build: std's
//! `DefaultHasher` promises no such thing across Rust releases. The
//! function is written out here (the multiply-fold construction of wyhash,
//! with its constants) so that nothing but this file can change it, and a
//! test pins its values. It reads 48 bytes a round in three independent
//! lanes, about 0.1 µs for a 1.5 KB event, where SipHash took about 1 µs.

const P: [u64; 4] = [
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
];

/// The 128-bit product of `a` and `b`, its halves folded together.
fn mix(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The little-endian word at `at`; callers keep `at + 8 <= bytes.len()`.
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The hash of `bytes`, the same on every platform and in every build.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let mut seed = P[0] ^ mix(P[0], P[1]);
    let (a, b) = if len <= 16 {
        // The length is mixed in below, so zero padding is unambiguous.
        let mut padded = [0u8; 16];
        padded[..len].copy_from_slice(bytes);
        (word(&padded, 0), word(&padded, 8))
    } else {
        let mut rest = bytes;
        if rest.len() > 48 {
            let (mut s1, mut s2) = (seed, seed);
            while rest.len() > 48 {
                seed = mix(word(rest, 0) ^ P[1], word(rest, 8) ^ seed);
                s1 = mix(word(rest, 16) ^ P[2], word(rest, 24) ^ s1);
                s2 = mix(word(rest, 32) ^ P[3], word(rest, 40) ^ s2);
                rest = &rest[48..];
            }
            seed ^= s1 ^ s2;
        }
        while rest.len() > 16 {
            seed = mix(word(rest, 0) ^ P[1], word(rest, 8) ^ seed);
            rest = &rest[16..];
        }
        // The last 16 bytes of the input, which may overlap the ones read.
        (word(bytes, len - 16), word(bytes, len - 8))
    };
    let r = u128::from(a ^ P[1]) * u128::from(b ^ seed);
    mix((r as u64) ^ P[0] ^ len as u64, ((r >> 64) as u64) ^ P[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_same_text_gives_the_same_number_in_every_build() {
        let pinned: Vec<u64> = [
            "",
            "a",
            "0123456789abcdef",
            "0123456789abcdefg",
            &"x".repeat(49),
            &"{\"timestamp\": \"2026-07-14T09:12:44Z\"}".repeat(40),
        ]
        .iter()
        .map(|t| stable_hash(t.as_bytes()))
        .collect();
        assert_eq!(pinned, PINNED, "{pinned:#x?}");
    }

    const PINNED: [u64; 6] = [
        0x0de4_71de_9fd5_9ff9,
        0x80e4_955e_7ba4_4c5d,
        0x1189_1553_6df0_106c,
        0x452d_1798_7856_cd08,
        0x3908_a785_bc7f_2035,
        0xbd55_5707_7ed9_5991,
    ];

    #[test]
    fn every_byte_and_the_length_count() {
        let base: Vec<u8> = (0..200u8).collect();
        let mut seen = HashSet::new();
        for len in 0..=base.len() {
            assert!(seen.insert(stable_hash(&base[..len])), "length {len}");
        }
        for at in 0..base.len() {
            for bit in 0..8 {
                let mut flipped = base.clone();
                flipped[at] ^= 1 << bit;
                assert!(seen.insert(stable_hash(&flipped)), "byte {at} bit {bit}");
            }
        }
        assert_ne!(stable_hash(b""), stable_hash(&[0]), "zero padding");
    }
}
