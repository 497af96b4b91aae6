//! Any bytes, as either IDX kind: the parser returns a value or an error,
//! never panics, and what it accepts is consistent with its header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mnist_mlp::internals::data::idx::{encode_idx, parse_idx, IdxKind};

fuzz_target!(|bytes: &[u8]| {
    for kind in [IdxKind::Images, IdxKind::Labels] {
        if let Ok(idx) = parse_idx(bytes.to_vec(), kind) {
            let per_item = if kind == IdxKind::Images { 784 } else { 1 };
            assert_eq!(idx.data.len(), idx.count * per_item);
            // Accepted input round-trips exactly.
            assert_eq!(encode_idx(kind, idx.count, &idx.data), bytes);
        }
    }
});
