//! Header-indexing parse throughput on the realistic corpus in `tests/corpus/sip/` (REGISTER, MESSAGE,
//! INVITE, 200, NOTIFY). A measurement, not a check: run with
//! `cargo test --release -p simple-im-core --test sip_parse_speed -- --ignored --nocapture`.
//! (`cargo xtask bench parse` is the criterion benchmark with the rsip comparison.)

use std::time::{Duration, Instant};

use simple_im_core::sip::{Header, HeaderName, Message, ParseConfig};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus/sip");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Best of seven passes of `rounds` iterations of `f` (the machine is shared: the minimum is the least
/// disturbed pass).
fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..rounds {
                f();
            }
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
#[ignore]
fn parse_datagram_throughput() {
    let corpus = corpus();
    assert!(corpus.len() >= 5, "the corpus has the five message kinds");
    let config = ParseConfig::default();
    let rounds = 20_000;
    let mut total_bytes = 0usize;
    let mut total_time = Duration::ZERO;
    for (name, bytes) in &corpus {
        let mut headers = 0usize;
        let time = best_of(rounds, || {
            let mut slots = [Header::EMPTY; 64];
            let m = Message::parse_datagram(std::hint::black_box(bytes), &mut slots, &config).unwrap();
            headers += std::hint::black_box(m.headers().len());
        });
        assert!(headers > 0);
        let mb_s = (rounds * bytes.len()) as f64 / 1e6 / time.as_secs_f64();
        let msg_s = rounds as f64 / time.as_secs_f64();
        println!("{name:14} {:4} bytes  {mb_s:7.0} MB/s  {msg_s:10.0} msg/s", bytes.len());
        total_bytes += rounds * bytes.len();
        total_time += time;
    }
    println!("corpus         {:7.0} MB/s", total_bytes as f64 / 1e6 / total_time.as_secs_f64());
}

#[test]
#[ignore]
fn header_name_classification_speed() {
    let corpus = corpus();
    let config = ParseConfig::default();
    let mut names: Vec<String> = Vec::new();
    for (_, bytes) in &corpus {
        let mut slots = [Header::EMPTY; 64];
        let m = Message::parse_datagram(bytes, &mut slots, &config).unwrap();
        names.extend(m.headers().iter().map(|h| h.name.to_string()));
    }
    let rounds = 50_000;
    let mut known = 0usize;
    let time = best_of(rounds, || {
        for name in &names {
            if !matches!(HeaderName::parse(std::hint::black_box(name)), HeaderName::Other(_)) {
                known += 1;
            }
        }
    });
    assert!(known > 0);
    let per_name = time.as_secs_f64() * 1e9 / (rounds * names.len()) as f64;
    println!("HeaderName::parse: {per_name:.1} ns per name ({} names)", names.len());
}
