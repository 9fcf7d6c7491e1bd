//! MSRP: the whole-message parser and the streaming chunk reader on the same arbitrary bytes, fed in
//! pieces whose sizes the input chooses. The streaming reader must see the same body and end-line
//! flag as the whole-message parser, however the bytes are split.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::msrp::wire::{parse_message, ChunkEvent, ChunkReader, Parsed};
use simple_im_core::msrp::MsrpUri;

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    let whole = parse_message(data);
    if let Ok(Parsed::Complete(msg, _)) = &whole {
        let _ = (
            msg.head.byte_range(),
            msg.head.success_report(),
            msg.head.failure_report(),
            msg.head.status(),
        );
        for path in [msg.head.to_path(), msg.head.from_path()].into_iter().flatten() {
            for uri in path.texts() {
                if let Ok(uri) = MsrpUri::parse(uri) {
                    assert!(uri.matches(&uri), "an MSRP URI matches itself");
                }
            }
        }
    }

    let mut reader: ChunkReader = ChunkReader::new();
    let mut body = [0u8; 4096];
    let mut body_len = 0usize;
    let mut overflow = false;
    let mut end = None;
    let (mut pos, mut filled) = (0usize, 0usize);
    'outer: while pos < data.len() {
        filled = (filled + step).min(data.len()).max(pos);
        loop {
            match reader.feed(&data[pos..filled]) {
                Err(_) => break 'outer,
                Ok((used, event)) => {
                    pos += used;
                    match event {
                        None => break,
                        Some(ChunkEvent::Body(bytes)) => match body.get_mut(body_len..body_len + bytes.len())
                        {
                            Some(dst) => {
                                dst.copy_from_slice(bytes);
                                body_len += bytes.len();
                            }
                            None => overflow = true,
                        },
                        Some(ChunkEvent::End(flag)) => {
                            end = Some(flag);
                            break 'outer;
                        }
                        Some(ChunkEvent::Head) => {}
                    }
                }
            }
        }
        if filled == data.len() && pos < data.len() {
            break;
        }
    }
    if let (Ok(Parsed::Complete(msg, _)), Some(flag), false) = (&whole, end, overflow) {
        assert_eq!(
            flag, msg.continuation,
            "streaming and whole-message parsing agree on the end-line"
        );
        assert_eq!(
            &body[..body_len],
            msg.body,
            "streaming and whole-message parsing agree on the body"
        );
    }
});
