//! RFC 5365 URI-list MESSAGEs: the multipart splitter and the resource-lists reader and history writer,
//! against the RFC 5365 §9 and RFC 4826 §3.3 vectors (one test per vector).

use simple_im_core::multipart::{self, MultipartError};
use simple_im_core::resource_lists::{entries, write_history, CopyControl, Entry, ResourceListError};

const FIG2_MESSAGE: &[u8] = include_bytes!("vectors/rfc5365/fig2-message-to-list-server.sip");
const FIG2_LIST: &[u8] = include_bytes!("vectors/rfc5365/fig2-recipient-list.xml");
const FIG3_HISTORY: &[u8] = include_bytes!("vectors/rfc5365/fig3-recipient-list-history.xml");
const FIG3_MESSAGE: &[u8] = include_bytes!("vectors/rfc5365/fig3-message-from-list-server.sip");
const RFC4826_S3_3: &[u8] = include_bytes!("vectors/rfc4826/s3.3-resource-lists.xml");

fn body_of(message: &[u8]) -> &[u8] {
    let at = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .expect("a blank line");
    &message[at..]
}

fn summary(document: &[u8]) -> Vec<(String, CopyControl, bool, Option<u32>)> {
    entries(document)
        .map(|e| {
            let Entry {
                uri,
                copy_control,
                anonymize,
                count,
            } = e.expect("entry");
            (uri.to_string(), copy_control, anonymize, count)
        })
        .collect()
}

#[test]
fn rfc5365_fig2_message_to_list_server() {
    let mut parts = multipart::parts(body_of(FIG2_MESSAGE), "boundary1").unwrap();
    let message = parts.next().unwrap().unwrap();
    assert_eq!(message.media_type(), "text/plain");
    assert_eq!(message.body, b"Hello World!\r\n");
    let list = parts.next().unwrap().unwrap();
    assert_eq!(list.media_type(), "application/resource-lists+xml");
    assert_eq!(list.disposition(), Some("recipient-list"));
    assert!(parts.next().is_none());
    // The list part is the Figure 2 document, line endings aside.
    let normalise = |b: &[u8]| String::from_utf8_lossy(b).replace("\r\n", "\n").trim().to_owned();
    assert_eq!(normalise(list.body), normalise(FIG2_LIST));
}

#[test]
fn rfc5365_fig2_recipient_list() {
    use CopyControl::*;
    let got = summary(FIG2_LIST);
    let expected = [
        ("sip:bill@example.com", To, false),
        ("sip:randy@example.net", To, true),
        ("sip:eddy@example.com", To, true),
        ("sip:joe@example.org", Cc, false),
        ("sip:carol@example.net", Cc, true),
        ("sip:ted@example.net", Bcc, false),
        ("sip:andy@example.com", Bcc, false),
    ];
    assert_eq!(got.len(), expected.len());
    for (g, (uri, cc, anon)) in got.iter().zip(expected) {
        assert_eq!((g.0.as_str(), g.1, g.2, g.3), (uri, cc, anon, None));
    }
}

#[test]
fn rfc5365_fig3_recipient_list_history() {
    use CopyControl::*;
    // Written from the Figure 2 list, the history reads back as Figure 3's.
    let mut out = [0u8; 2048];
    let len = write_history(FIG2_LIST, &mut out).unwrap();
    let written = summary(&out[..len]);
    assert_eq!(written, summary(FIG3_HISTORY));
    assert_eq!(
        written,
        [
            ("sip:bill@example.com".to_owned(), To, false, None),
            ("sip:anonymous@anonymous.invalid".to_owned(), To, false, Some(2)),
            ("sip:joe@example.org".to_owned(), Cc, false, None),
            ("sip:anonymous@anonymous.invalid".to_owned(), Cc, false, Some(1)),
        ]
    );
}

#[test]
fn rfc5365_fig3_message_from_list_server() {
    let mut parts = multipart::parts(body_of(FIG3_MESSAGE), "boundary1").unwrap();
    assert_eq!(parts.next().unwrap().unwrap().body, b"Hello World!\r\n");
    let history = parts.next().unwrap().unwrap();
    assert_eq!(history.disposition(), Some("recipient-list-history"));
    assert_eq!(summary(history.body), summary(FIG3_HISTORY));
}

#[test]
fn rfc4826_s3_3_resource_lists() {
    // Nested lists are walked in document order; the entry-ref is reported, not skipped.
    let mut it = entries(RFC4826_S3_3);
    assert_eq!(
        it.next().unwrap().unwrap().uri.to_string(),
        "sip:bill@example.com"
    );
    assert!(matches!(
        it.next(),
        Some(Err(ResourceListError::UnsupportedReference(_)))
    ));
    assert!(it.next().is_none(), "the iterator stops after an error");
}

#[test]
fn a_history_of_only_bcc_recipients_is_empty() {
    let list = br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"
        xmlns:cp="urn:ietf:params:xml:ns:copycontrol"><list>
        <entry uri="sip:a@x" cp:copyControl="bcc"/></list></resource-lists>"#;
    assert_eq!(write_history(list, &mut [0u8; 512]), Ok(0));
}

#[test]
fn invalid_lists_get_specific_errors() {
    assert_eq!(
        entries(b"<list/>").next(),
        Some(Err(ResourceListError::NotResourceLists))
    );
    let no_uri = br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry/></list></resource-lists>"#;
    assert!(matches!(
        entries(no_uri).next(),
        Some(Err(ResourceListError::MissingUri(_)))
    ));
    let bad_cc = br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"
        xmlns:cp="urn:ietf:params:xml:ns:copycontrol"><list><entry uri="sip:a@x" cp:copyControl="from"/></list></resource-lists>"#;
    assert!(matches!(
        entries(bad_cc).next(),
        Some(Err(ResourceListError::BadCopyControl(_)))
    ));
    // A copyControl attribute of another namespace is not RFC 5364's: the default (to) applies.
    let other_ns = br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"
        xmlns:x="urn:example"><list><entry uri="sip:a@x" x:copyControl="bcc"/></list></resource-lists>"#;
    assert_eq!(
        entries(other_ns).next().unwrap().unwrap().copy_control,
        CopyControl::To
    );
    assert!(matches!(
        entries(b"<resource-lists").next(),
        Some(Err(ResourceListError::Xml(_)))
    ));
    assert_eq!(
        multipart::parts(b"", "b").unwrap_err(),
        MultipartError::NoDelimiter
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The fuzz target's properties (`core/fuzz/fuzz_targets/uri_list.rs`) over inputs near the vectors:
    /// never a panic, and a written history reads back with no more entries than the list shows.
    fn check(data: &[u8]) {
        for part in multipart::parts(data, "boundary1").into_iter().flatten().take(64) {
            let Ok(part) = part else { break };
            let _ = (part.media_type(), part.disposition());
        }
        let visible = entries(data)
            .map_while(Result::ok)
            .filter(|e| e.copy_control != CopyControl::Bcc)
            .count();
        let mut out = [0u8; 8192];
        if let Ok(len) = write_history(data, &mut out) {
            let written: Vec<_> = entries(&out[..len]).collect();
            assert!(written.iter().all(Result::is_ok));
            assert!(written.len() <= visible);
        }
    }

    proptest! {
        #[test]
        fn mutated_vectors_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let source = [FIG2_MESSAGE, FIG2_LIST, FIG3_HISTORY][which];
            let mut data = source.to_vec();
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            data.truncate(cut.index(data.len() + 1));
            check(&data);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            check(&data);
        }
    }
}
