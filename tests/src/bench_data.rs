//! Data the benchmarks send: bytes like a compressed file's, the same in every run.

/// `len` bytes of an xorshift32 sequence from a fixed seed: no CR/LF structure, so an MSRP end-line
/// search finds no more false starts in them than in compressed data, and every run sends the same.
pub fn file_like(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
