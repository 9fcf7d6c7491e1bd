//! The bounded XML reader: every XML vector of the shared set, and property tests.

use proptest::prelude::*;
use simple_im_core::xml::writer::ByteWriter;
use simple_im_core::xml::{Error, ErrorKind, Event, Reader};

fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Reads a whole document; returns (elements seen, deepest nesting) or the first error.
fn read_all(bytes: &[u8]) -> Result<(usize, usize), Error> {
    let mut r: Reader<'_> = Reader::new(bytes);
    let (mut elements, mut deepest) = (0, 0);
    while let Some(ev) = r.next_event()? {
        if let Event::Start(_) = ev {
            elements += 1;
            deepest = deepest.max(r.depth());
        }
    }
    Ok((elements, deepest))
}

macro_rules! well_formed {
    ($($test:ident: $path:literal, $root:literal, $ns:expr;)*) => {$(
        #[test]
        fn $test() {
            let bytes = vector($path);
            let (elements, _) = read_all(&bytes).unwrap();
            assert!(elements > 0);
            let mut r: Reader<'_> = Reader::new(&bytes);
            let root = loop {
                if let Some(Event::Start(s)) = r.next_event().unwrap() {
                    break s;
                }
            };
            assert_eq!(root.name.local, $root);
            assert_eq!(root.namespace, $ns);
        }
    )*};
}

well_formed! {
    rfc3863_pidf_xsd: "rfc3863/pidf.xsd", "schema", Some("http://www.w3.org/2001/XMLSchema");
    rfc3863_s4_2_2_default_ns_xml: "rfc3863/s4.2.2-default-ns.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc3863_s4_2_2_prefixed_xml: "rfc3863/s4.2.2-prefixed.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc3863_s4_2_4_status_extension_xml: "rfc3863/s4.2.4-status-extension.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc3863_s4_2_5_status_extension_schema_xsd: "rfc3863/s4.2.5-status-extension-schema.xsd", "schema", Some("http://www.w3.org/2001/XMLSchema");
    rfc3863_s4_3_1_default_ns_status_ext_xml: "rfc3863/s4.3.1-default-ns-status-ext.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc3863_s4_3_2_other_extensions_xml: "rfc3863/s4.3.2-other-extensions.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc3863_s4_3_3_must_understand_xml: "rfc3863/s4.3.3-must-understand.xml", "presence", Some("urn:ietf:params:xml:ns:pidf");
    rfc4826_resource_lists_xsd: "rfc4826/resource-lists.xsd", "schema", Some("http://www.w3.org/2001/XMLSchema");
    rfc4826_rls_services_xsd: "rfc4826/rls-services.xsd", "schema", Some("http://www.w3.org/2001/XMLSchema");
    rfc4826_s3_3_resource_lists_xml: "rfc4826/s3.3-resource-lists.xml", "resource-lists", Some("urn:ietf:params:xml:ns:resource-lists");
    rfc4826_s4_3_rls_services_xml: "rfc4826/s4.3-rls-services.xml", "rls-services", Some("urn:ietf:params:xml:ns:rls-services");
    // As published this fragment declares no namespace at all.
    rfc4826_s4_4_8_rls_services_1_xml: "rfc4826/s4.4.8-rls-services-1.xml", "rls-services", None;
    rfc4826_s4_4_8_rls_services_3_xml: "rfc4826/s4.4.8-rls-services-3.xml", "rls-services", Some("urn:ietf:params:xml:ns:rls-services");
    rfc4575_conference_info_xsd: "rfc4575/conference-info.xsd", "schema", Some("http://www.w3.org/2001/XMLSchema");
    rfc4575_s7_1_basic_xml: "rfc4575/s7.1-basic.xml", "conference-info", Some("urn:ietf:params:xml:ns:conference-info");
    rfc4575_s7_2_rich_xml: "rfc4575/s7.2-rich.xml", "conference-info", Some("urn:ietf:params:xml:ns:conference-info");
    rfc5365_fig2_recipient_list_xml: "rfc5365/fig2-recipient-list.xml", "resource-lists", Some("urn:ietf:params:xml:ns:resource-lists");
    rfc5365_fig3_recipient_list_history_xml: "rfc5365/fig3-recipient-list-history.xml", "resource-lists", Some("urn:ietf:params:xml:ns:resource-lists");
    rfc5438_imdn_rng: "rfc5438/imdn.rng", "grammar", Some("http://relaxng.org/ns/structure/1.0");
}

#[test]
fn rfc4826_s4_4_8_rls_services_2_xml() {
    // As published the document uses the rl: prefix without declaring it (index.tsv: line 5, column 5).
    let bytes = vector("rfc4826/s4.4.8-rls-services-2.xml");
    let err = read_all(&bytes).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnboundPrefix);
    let before = &bytes[..err.offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    // The error points at the `<` of <rl:entry> (column 6) or its name (column 7): the line is line 5.
    assert_eq!(line, 5);
    assert!((6..=7).contains(&column), "column {column}");
}

#[test]
fn declaration_comment_cdata_and_pi_events() {
    let doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><?app do it?><r a=\"x&amp;y\"><![CDATA[<raw>&]]>t&#x41;</r>";
    let mut r: Reader<'_> = Reader::new(doc);
    let mut events = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        events.push(ev);
    }
    assert!(matches!(events[0], Event::Declaration(d) if d.version == "1.0" && d.encoding == Some("UTF-8")));
    assert_eq!(events[1], Event::Comment(" c "));
    assert_eq!(
        events[2],
        Event::ProcessingInstruction {
            target: "app",
            data: "do it"
        }
    );
    let Event::Start(root) = events[3] else { panic!() };
    let mut buf = [0u8; 16];
    assert_eq!(root.attributes().next().unwrap().decode(&mut buf).unwrap(), "x&y");
    assert_eq!(events[4], Event::CData("<raw>&"));
    let Event::Text(t) = events[5] else { panic!() };
    assert_eq!(t.decode(&mut buf).unwrap(), "tA");
    assert!(matches!(events[6], Event::End(e) if e.name.local == "r"));
    assert_eq!(events.len(), 7);
}

#[test]
fn invalid_utf8_is_reported_at_its_offset() {
    assert_eq!(
        read_all(b"<a>\xff</a>").unwrap_err(),
        Error {
            kind: ErrorKind::NotUtf8,
            offset: 3
        }
    );
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Child>,
}

#[derive(Debug, Clone)]
enum Child {
    Element(Node),
    Text(String),
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,6}"
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = (
        name(),
        proptest::collection::btree_map(name(), "[ -~é]{0,8}", 0..3),
    )
        .prop_map(|(name, attrs)| Node {
            name,
            attrs: attrs.into_iter().collect(),
            children: vec![],
        });
    leaf.prop_recursive(4, 24, 4, |inner| {
        (
            name(),
            proptest::collection::btree_map(name(), "[ -~é]{0,8}", 0..3),
            proptest::collection::vec(
                prop_oneof![
                    inner.prop_map(Child::Element),
                    "[ -~é\n]{1,12}".prop_map(Child::Text)
                ],
                0..4,
            ),
        )
            .prop_map(|(name, attrs, children)| Node {
                name,
                attrs: attrs.into_iter().collect(),
                children,
            })
    })
}

fn write(node: &Node, w: &mut ByteWriter<'_>) {
    w.push_byte(b'<').unwrap();
    w.push_str(&node.name).unwrap();
    for (k, v) in &node.attrs {
        w.push_byte(b' ').unwrap();
        w.push_str(k).unwrap();
        w.push(b"=\"").unwrap();
        w.push_xml_escaped(v).unwrap();
        w.push_byte(b'"').unwrap();
    }
    if node.children.is_empty() {
        w.push(b"/>").unwrap();
        return;
    }
    w.push_byte(b'>').unwrap();
    for c in &node.children {
        match c {
            Child::Element(n) => write(n, w),
            Child::Text(t) => w.push_xml_escaped(t).unwrap(),
        }
    }
    w.push(b"</").unwrap();
    w.push_str(&node.name).unwrap();
    w.push_byte(b'>').unwrap();
}

/// A canonical trace of a tree: starts with attributes, merged text, ends.
fn expected_trace(node: &Node, out: &mut Vec<String>) {
    out.push(format!("<{} {:?}", node.name, node.attrs));
    let mut text = String::new();
    for c in &node.children {
        match c {
            Child::Text(t) => text.push_str(t),
            Child::Element(n) => {
                if !text.is_empty() {
                    out.push(std::mem::take(&mut text));
                }
                expected_trace(n, out);
            }
        }
    }
    if !text.is_empty() {
        out.push(text);
    }
    out.push(format!("</{}", node.name));
}

proptest! {
    #[test]
    fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_all(&bytes);
    }

    #[test]
    fn reader_never_panics_on_xml_like_text(text in "[<>/=\"'&;#x!?\\[\\]a-c: -]{0,64}") {
        let _ = read_all(text.as_bytes());
    }

    #[test]
    fn generated_documents_round_trip(root in node()) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut w = ByteWriter::new(&mut buf);
        write(&root, &mut w);
        let n = w.len();
        let mut expected = Vec::new();
        expected_trace(&root, &mut expected);
        let mut got = Vec::new();
        let mut r: Reader<'_> = Reader::new(&buf[..n]);
        let mut dec = [0u8; 1024];
        while let Some(ev) = r.next_event().unwrap() {
            match ev {
                Event::Start(s) => {
                    let attrs: Vec<(String, String)> = s
                        .attributes()
                        .map(|a| (a.name.local.to_string(), a.decode(&mut dec).unwrap().to_string()))
                        .collect();
                    got.push(format!("<{} {:?}", s.name.local, attrs));
                }
                Event::End(e) => got.push(format!("</{}", e.name.local)),
                Event::Text(t) => {
                    let s = t.decode(&mut dec).unwrap().to_string();
                    // The writer emits adjacent text nodes as one run; so does the reader.
                    got.push(s);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        prop_assert_eq!(got, expected);
    }
}
