//! MD5 (RFC 1321) and SHA-256 (FIPS 180-4), written compactly for devices.
//!
//! Both are Merkle-Damgard hashes over 64-byte blocks: the message is cut into blocks, each block is
//! mixed into a state of 32-bit words, and the last block is padded with `0x80`, zeros and the message
//! length in bits as a 64-bit number. So one [`BlockHash`] holds the buffer, the length and the state for
//! either function; only the compression function and the byte order differ:
//!
//! | function | state words | compression | words and length are read/written |
//! |---|---|---|---|
//! | MD5 | 4 | 64 steps, 4 rounds of 16 | little-endian |
//! | SHA-256 | 8 | 64 rounds over a 64-word schedule | big-endian |
//!
//! Loops instead of unrolled rounds: slower than the `md-5`/`sha2` crates, but a fraction of their
//! Cortex-M code, and digest authentication hashes a few hundred bytes per request.

/// Which of the two functions a [`BlockHash`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockFunction {
    Md5,
    Sha256,
}

const BLOCK: usize = 64;

/// A running MD5 or SHA-256.
#[derive(Clone, Debug)]
pub(crate) struct BlockHash {
    function: BlockFunction,
    state: [u32; 8],
    block: [u8; BLOCK],
    /// Bytes of `block` in use (always < 64 between calls).
    filled: usize,
    /// Bytes hashed so far (the padding records it in bits, modulo 2^64).
    total: u64,
}

impl BlockHash {
    /// A fresh hash of `function`.
    pub(crate) fn new(function: BlockFunction) -> Self {
        let state = match function {
            // RFC 1321 §3.3, words A B C D.
            BlockFunction::Md5 => [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0, 0, 0, 0],
            // FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square roots of the
            // first eight primes.
            BlockFunction::Sha256 => [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
        };
        BlockHash {
            function,
            state,
            block: [0; BLOCK],
            filled: 0,
            total: 0,
        }
    }

    /// Feeds `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        while !data.is_empty() {
            let free = self.block.get_mut(self.filled..).unwrap_or(&mut []);
            let take = free.len().min(data.len());
            let (now, later) = data.split_at(take);
            if let Some(slot) = free.get_mut(..take) {
                slot.copy_from_slice(now);
            }
            data = later;
            self.filled += take;
            if self.filled == BLOCK {
                self.compress_block();
            }
        }
    }

    /// Pads, compresses the last block(s) and writes the digest (16 bytes for MD5, 32 for SHA-256) to
    /// the start of `out`; returns its length.
    pub(crate) fn finish(mut self, out: &mut [u8; 32]) -> usize {
        let bits = self.total.wrapping_mul(8);
        let little_endian = self.function == BlockFunction::Md5;
        let length = if little_endian {
            bits.to_le_bytes()
        } else {
            bits.to_be_bytes()
        };
        // 0x80, then zeros up to 8 bytes before a block end, then the length.
        let zeros = (BLOCK + BLOCK - 9 - self.filled) % BLOCK;
        let total = self.total;
        self.update(&[0x80]);
        self.update([0; BLOCK].get(..zeros).unwrap_or(&[]));
        self.update(&length);
        self.total = total;
        let words = if little_endian { 4 } else { 8 };
        for (word, chunk) in self.state.iter().take(words).zip(out.chunks_exact_mut(4)) {
            let bytes = if little_endian {
                word.to_le_bytes()
            } else {
                word.to_be_bytes()
            };
            chunk.copy_from_slice(&bytes);
        }
        4 * words
    }

    /// Mixes the full `block` into the state and empties it.
    fn compress_block(&mut self) {
        let mut words = [0u32; 16];
        for (word, bytes) in words.iter_mut().zip(self.block.chunks_exact(4)) {
            let bytes: [u8; 4] = bytes.try_into().unwrap_or([0; 4]); // chunks_exact: always 4
            *word = match self.function {
                BlockFunction::Md5 => u32::from_le_bytes(bytes),
                BlockFunction::Sha256 => u32::from_be_bytes(bytes),
            };
        }
        match self.function {
            BlockFunction::Md5 => md5_compress(&mut self.state, &words),
            BlockFunction::Sha256 => sha256_compress(&mut self.state, &words),
        }
        self.filled = 0;
    }
}

/// RFC 1321 §3.4: floor(2^32 * |sin(i + 1)|) for step i.
const MD5_SINES: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// RFC 1321 §3.4: the left rotations of each round, by step within a group of four.
const MD5_SHIFTS: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

/// The four rounds of RFC 1321 §3.4 as one loop: round r uses function F/G/H/I and takes message word
/// i, 5i+1, 3i+5 or 7i (mod 16) at step i.
fn md5_compress(state: &mut [u32; 8], words: &[u32; 16]) {
    let [mut a, mut b, mut c, mut d, ..] = *state;
    for step in 0..64 {
        let round = step / 16;
        let (mixed, word) = match round {
            0 => ((b & c) | (!b & d), step),
            1 => ((d & b) | (!d & c), 5 * step + 1),
            2 => (b ^ c ^ d, 3 * step + 5),
            _ => (c ^ (b | !d), 7 * step),
        };
        let sum = mixed
            .wrapping_add(a)
            .wrapping_add(MD5_SINES[step])
            .wrapping_add(words[word % 16]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(sum.rotate_left(MD5_SHIFTS[round][step % 4]));
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

/// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const SHA256_ROUND_CONSTANTS: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// FIPS 180-4 §6.2.2, with the message schedule kept as a rolling window of 16 words.
fn sha256_compress(state: &mut [u32; 8], words: &[u32; 16]) {
    let mut schedule = *words;
    let mut v = *state;
    for (round, constant) in SHA256_ROUND_CONSTANTS.iter().enumerate() {
        let slot = round % 16;
        if round >= 16 {
            // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], indices mod 16.
            let w2 = schedule[(round + 14) % 16];
            let w15 = schedule[(round + 1) % 16];
            let sigma1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
            let sigma0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
            schedule[slot] = schedule[slot]
                .wrapping_add(sigma1)
                .wrapping_add(schedule[(round + 9) % 16])
                .wrapping_add(sigma0);
        }
        let [a, b, c, d, e, f, g, h] = v;
        let big_sigma1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let choose = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(big_sigma1)
            .wrapping_add(choose)
            .wrapping_add(*constant)
            .wrapping_add(schedule[slot]);
        let big_sigma0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let majority = (a & b) ^ (a & c) ^ (b & c);
        let t2 = big_sigma0.wrapping_add(majority);
        v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    for (s, x) in state.iter_mut().zip(v) {
        *s = s.wrapping_add(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn digest(function: BlockFunction, pieces: &[&[u8]]) -> ([u8; 32], usize) {
        let mut h = BlockHash::new(function);
        for p in pieces {
            h.update(p);
        }
        let mut out = [0u8; 32];
        let len = h.finish(&mut out);
        (out, len)
    }

    fn hex_of(bytes: &[u8]) -> std::string::String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_matches_the_rfc_1321_test_suite() {
        for (input, expected) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            let (out, len) = digest(BlockFunction::Md5, &[input.as_bytes()]);
            assert_eq!(len, 16);
            assert_eq!(hex_of(&out[..len]), expected, "{input:?}");
        }
    }

    #[test]
    fn sha256_matches_the_fips_180_examples() {
        for (input, expected) in [
            (
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ] {
            let (out, len) = digest(BlockFunction::Sha256, &[input.as_bytes()]);
            assert_eq!(len, 32);
            assert_eq!(hex_of(&out[..len]), expected, "{input:?}");
        }
    }

    /// Every length around the block and padding boundaries, fed whole and in uneven pieces, against
    /// the `md-5` and `sha2` crates.
    #[test]
    fn agrees_with_the_reference_crates_at_every_boundary_length() {
        let data: std::vec::Vec<u8> = (0..300u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let input = &data[..len];
            let (third, rest) = input.split_at(len / 3);
            let md5_ref = md5::Md5::digest(input);
            let sha_ref = sha2::Sha256::digest(input);
            for pieces in [&[input][..], &[third, rest][..]] {
                let (out, n) = digest(BlockFunction::Md5, pieces);
                assert_eq!(&out[..n], md5_ref.as_slice(), "md5 len {len}");
                let (out, n) = digest(BlockFunction::Sha256, pieces);
                assert_eq!(&out[..n], sha_ref.as_slice(), "sha256 len {len}");
            }
        }
    }
}
