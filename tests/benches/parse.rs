//! SIP parse throughput of simple-im-core against the `rsip` crate, on the same corpus in the same run.
//!
//! The corpus (`tests/corpus/sip/*.sip`) is realistic traffic of an IM deployment: REGISTER with
//! digest credentials, a CPIM-wrapped MESSAGE through a proxy, an INVITE with an MSRP offer, a 200 OK
//! and a conference NOTIFY. One iteration parses every message once.
//!
//! - `simple-im/index`: the zero-copy view (start line, header slots, body); what a proxy needs.
//! - `rsip/parse`: rsip's `SipMessage::try_from(&[u8])`, which also stops at untyped headers.
//! - `simple-im/typed` and `rsip/typed`: the view plus the typed values a transaction layer reads for
//!   every message (top Via with its branch, From and To with tags, Call-ID, CSeq).
//!
//! `cargo xtask bench parse` runs this and prints MB/s, messages/s and the ratios.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rsip::prelude::{HasHeaders, HeadersExt, ToTypedHeader};
use simple_im_core::sip::{Header, Message, ParseConfig};
use std::hint::black_box;

/// One way of parsing a message, returning a value derived from the result so it is not optimised away.
type Parser = fn(&[u8]) -> usize;

fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/sip");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the SIP corpus is in tests/corpus/sip")
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

fn simple_im_index(msg: &[u8]) -> usize {
    let mut slots = [Header::EMPTY; 32];
    let parsed = Message::parse_datagram(msg, &mut slots, &ParseConfig::default()).expect("corpus parses");
    parsed.headers().len() + parsed.body().len()
}

fn simple_im_typed(msg: &[u8]) -> usize {
    let mut slots = [Header::EMPTY; 32];
    let parsed = Message::parse_datagram(msg, &mut slots, &ParseConfig::default()).expect("corpus parses");
    let via = parsed.top_via().expect("Via").expect("typed Via");
    let from = parsed.from().expect("From").expect("typed From");
    let to = parsed.to().expect("To").expect("typed To");
    let cseq = parsed.cseq().expect("CSeq").expect("typed CSeq");
    let call_id = parsed.call_id().expect("Call-ID");
    via.branch.map_or(0, str::len)
        + from.tag().map_or(0, str::len)
        + to.tag().map_or(0, str::len)
        + cseq.seq as usize
        + call_id.len()
}

fn rsip_parse(msg: &[u8]) -> usize {
    let parsed = rsip::SipMessage::try_from(msg).expect("rsip parses the corpus");
    parsed.headers().iter().count() + parsed.body().len()
}

fn rsip_typed(msg: &[u8]) -> usize {
    let parsed = rsip::SipMessage::try_from(msg).expect("rsip parses the corpus");
    let via = parsed.via_header().expect("Via").typed().expect("typed Via");
    let from = parsed.from_header().expect("From").typed().expect("typed From");
    let to = parsed.to_header().expect("To").typed().expect("typed To");
    let cseq = parsed.cseq_header().expect("CSeq").typed().expect("typed CSeq");
    let call_id = parsed.call_id_header().expect("Call-ID");
    via.params.len() + from.params.len() + to.params.len() + cseq.seq as usize + call_id.to_string().len()
}

fn parse(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    // Each implementation must accept every message, or the comparison is not like for like.
    for msg in &corpus {
        simple_im_typed(msg);
        rsip_typed(msg);
    }
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    let cases: [(&str, Parser); 4] = [
        ("simple-im/index", simple_im_index),
        ("simple-im/typed", simple_im_typed),
        ("rsip/parse", rsip_parse),
        ("rsip/typed", rsip_typed),
    ];
    for (name, f) in cases {
        group.bench_function(name, |b| {
            b.iter(|| corpus.iter().map(|m| f(black_box(m))).sum::<usize>());
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
