//! Inputs found by the fuzz targets in `core/fuzz`, kept as regression tests with the property each
//! target checks. Each file lives in `core/fuzz/regressions/<target>/`.

use simple_im_core::imdn::Imdn;
use simple_im_core::sip::{emit, Header, Message, ParseConfig};

fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/fuzz/regressions/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The `sip_message` property: the canonical form of anything that parses re-parses to the same
/// start line and body.
#[test]
fn sip_message_emit_reparses() {
    let cases = regressions("sip_message");
    assert!(!cases.is_empty(), "the regression corpus is present");
    for (name, data) in cases {
        let lenient = ParseConfig {
            allow_bare_lf: true,
            allow_missing_blank_line: true,
            ..ParseConfig::default()
        };
        for config in [ParseConfig::default(), lenient] {
            let mut slots = [Header::EMPTY; 64];
            let Ok(msg) = Message::parse_datagram(&data, &mut slots, &config) else {
                continue;
            };
            let mut out = [0u8; 8192];
            let Ok(n) = emit(&msg, &mut out) else { continue };
            // One slot more: emission adds a Content-Length when the input had none.
            let mut again_slots = [Header::EMPTY; 65];
            let again = Message::parse_datagram(&out[..n], &mut again_slots, &ParseConfig::default());
            let again = again.unwrap_or_else(|e| {
                panic!(
                    "{name}: emitted form does not parse: {e}\n{}",
                    String::from_utf8_lossy(&out[..n])
                )
            });
            assert_eq!(again.start_line(), msg.start_line(), "{name}");
            assert_eq!(again.body(), msg.body(), "{name}");
        }
    }
}

/// The `imdn_xml` property: an accepted IMDN document, written back, re-parses to the same decoded text
/// (no second layer of escaping, CDATA escaped once).
#[test]
fn imdn_xml_write_reparses_to_the_same_text() {
    let cases = regressions("imdn_xml");
    assert!(!cases.is_empty(), "the regression corpus is present");
    for (name, data) in cases {
        let Ok(doc) = Imdn::parse(&data) else { continue };
        let mut out = [0u8; 4096];
        let Ok(n) = doc.write(&mut out) else { continue };
        let again = Imdn::parse(&out[..n]).unwrap_or_else(|e| {
            panic!(
                "{name}: emitted form does not parse: {e}\n{}",
                String::from_utf8_lossy(&out[..n])
            )
        });
        let (mut before, mut after) = ([0u8; 4096], [0u8; 4096]);
        assert_eq!(
            again.message_id.decode_into(&mut after),
            doc.message_id.decode_into(&mut before),
            "{name}"
        );
        assert_eq!(again, doc, "{name}");
    }
}

/// The `uri_list` property: a recipient-list history written from an accepted list reads back as a
/// valid list that shows no more entries than the list did.
#[test]
fn uri_list_history_reads_back_with_no_more_entries() {
    use simple_im_core::resource_lists::{entries, write_history, CopyControl};
    let cases = regressions("uri_list");
    assert!(!cases.is_empty(), "the regression corpus is present");
    for (name, data) in cases {
        let visible = entries(&data)
            .take(4096)
            .map_while(Result::ok)
            .filter(|e| e.copy_control != CopyControl::Bcc)
            .count();
        let mut out = [0u8; 8192];
        // `Ok(0)` means there is no history to send (nothing visible), not an empty document.
        let Ok(len @ 1..) = write_history(&data, &mut out) else {
            continue;
        };
        let written: Vec<_> = entries(&out[..len]).collect();
        assert!(
            written.iter().all(Result::is_ok),
            "{name}: written history does not read back: {written:?}\n{}",
            String::from_utf8_lossy(&out[..len])
        );
        assert!(
            written.len() <= visible,
            "{name}: the history shows more than the list"
        );
    }
}
