//! MSRP chunk parsing throughput for file data, against a plain copy of the same bytes, in one run.
//!
//! A 4 MiB file is framed as SEND chunks of 32 KiB (the chunk size simple-im's sender uses for files)
//! and read back in 64 KiB reads, as a socket would deliver them.
//!
//! - `simple-im/chunk-reader`: parses every chunk (start line, headers, the end-line search through the
//!   body) and hands out the body slices without touching them: the framing cost alone.
//! - `simple-im/receive`: the same, and copies each body slice to its place in a destination buffer, as
//!   a receiver writing the file does.
//! - `memcpy/copy`: copies the same wire bytes into the same destination, in the same reads.
//!
//! The target compares parsing with a plain copy of the same bytes: `chunk-reader` within 2x of
//! `memcpy/copy`.
//!
//! `cargo xtask bench msrp` runs this and prints MB/s and the ratio.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use simple_im_core::msrp::wire::{ChunkEvent, ChunkReader};
use std::hint::black_box;

const FILE_SIZE: usize = 4 << 20;
const CHUNK: usize = 32 << 10;
const READ: usize = 64 << 10;

/// The file's bytes: a pattern with no CR/LF structure, like compressed data.
fn file() -> Vec<u8> {
    simple_im_tests::bench_data::file_like(FILE_SIZE)
}

/// The file as a stream of SEND chunks.
fn wire(file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len() + file.len() / CHUNK * 256);
    for (i, body) in file.chunks(CHUNK).enumerate() {
        let start = i * CHUNK + 1;
        let end = start + body.len() - 1;
        let tid = format!("t{i:06}");
        let flag = if end == file.len() { '$' } else { '+' };
        out.extend_from_slice(
            format!(
                "MSRP {tid} SEND\r\nTo-Path: msrp://10.0.0.2:7777/iau39soe2843z;tcp\r\n\
                 From-Path: msrp://10.0.0.1:8888/9di4eae923wzd;tcp\r\nMessage-ID: 87652491\r\n\
                 Byte-Range: {start}-{end}/{}\r\nContent-Type: application/octet-stream\r\n\r\n",
                file.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
        out.extend_from_slice(format!("\r\n-------{tid}{flag}\r\n").as_bytes());
    }
    out
}

/// Parses the stream in READ-sized reads and hands every body slice to `sink`; returns body bytes.
fn parse(wire: &[u8], mut sink: impl FnMut(usize, &[u8])) -> usize {
    let mut reader: ChunkReader = ChunkReader::new();
    let mut written = 0;
    let mut pos = 0;
    let mut filled = 0;
    while pos < wire.len() {
        filled = (filled + READ).min(wire.len());
        loop {
            let (used, event) = reader.feed(&wire[pos..filled]).expect("well-formed chunks");
            pos += used;
            match event {
                Some(ChunkEvent::Body(bytes)) => {
                    sink(written, bytes);
                    written += bytes.len();
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    written
}

/// Parses and writes every body byte to its place in `dest`.
fn receive(wire: &[u8], dest: &mut [u8]) -> usize {
    parse(wire, |at, bytes| {
        dest[at..at + bytes.len()].copy_from_slice(bytes)
    })
}

/// The baseline: the same wire bytes copied in the same reads, with no parsing.
fn copy(wire: &[u8], dest: &mut [u8]) -> usize {
    let mut written = 0;
    for read in wire.chunks(READ) {
        let n = read.len().min(dest.len() - written);
        dest[written..written + n].copy_from_slice(&read[..n]);
        written += n;
    }
    written
}

fn msrp(c: &mut Criterion) {
    let file = file();
    let wire = wire(&file);
    let mut dest = vec![0u8; wire.len()];
    assert_eq!(receive(&wire, &mut dest), file.len());
    assert_eq!(
        &dest[..file.len()],
        &file[..],
        "the reader delivers the file byte-exact"
    );

    let mut group = c.benchmark_group("msrp");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("simple-im/chunk-reader", |b| {
        b.iter(|| {
            parse(black_box(&wire), |_, bytes| {
                black_box(bytes);
            })
        })
    });
    group.bench_function("simple-im/receive", |b| {
        b.iter(|| receive(black_box(&wire), &mut dest))
    });
    group.bench_function("memcpy/copy", |b| b.iter(|| copy(black_box(&wire), &mut dest)));
    group.finish();
}

criterion_group!(benches, msrp);
criterion_main!(benches);
