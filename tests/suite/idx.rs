//! IDX reading and dataset loading: round trips and every malformation
//! rejected with its own error.

use crate::common;

use common::{gzip, synthetic, synthetic_mnist, write_mnist_dir};
use mnist_mlp::internals::data::dataset::{
    load_mnist, load_split, TEST_IMAGES, TEST_LABELS, TRAIN_LABELS,
};
use mnist_mlp::internals::data::idx::{encode_idx, parse_idx, read_idx_file, IdxKind};
use mnist_mlp::internals::error::{Error, IdxProblem};

fn problem(bytes: Vec<u8>, kind: IdxKind) -> IdxProblem {
    parse_idx(bytes, kind).expect_err("malformed input must be rejected")
}

#[test]
fn round_trip_raw_and_gzip_give_the_same_data() {
    let set = synthetic(7, 3);
    let dir = tempfile::tempdir().unwrap();
    let encoded = encode_idx(IdxKind::Images, set.len(), set.images());
    std::fs::write(dir.path().join("raw"), &encoded).unwrap();
    // A gzip file with no .gz in its name: detected by its magic bytes.
    std::fs::write(dir.path().join("compressed"), gzip(&encoded)).unwrap();
    for name in ["raw", "compressed"] {
        let idx = read_idx_file(&dir.path().join(name), IdxKind::Images).unwrap();
        assert_eq!(idx.count, 7);
        assert_eq!(idx.data, set.images());
    }
    let labels = parse_idx(
        encode_idx(IdxKind::Labels, 7, set.labels()),
        IdxKind::Labels,
    )
    .unwrap();
    assert_eq!(labels.data, set.labels());
}

#[test]
fn short_header_is_rejected() {
    assert_eq!(
        problem(vec![0, 0, 8], IdxKind::Labels),
        IdxProblem::TruncatedHeader {
            needed: 8,
            found: 3
        }
    );
    let mut images = encode_idx(IdxKind::Images, 1, &[0; 784]);
    images.truncate(10);
    assert!(matches!(
        problem(images, IdxKind::Images),
        IdxProblem::TruncatedHeader { needed: 16, .. }
    ));
}

#[test]
fn labels_given_as_images_fail_on_magic() {
    let labels = encode_idx(IdxKind::Labels, 3, &[1, 2, 3]);
    assert!(matches!(
        problem(labels, IdxKind::Images),
        IdxProblem::BadMagic {
            expected: 2051,
            found: 2049,
            ..
        }
    ));
    let text = b"this is not an IDX file at all".to_vec();
    assert!(matches!(
        problem(text, IdxKind::Labels),
        IdxProblem::BadMagic { .. }
    ));
}

#[test]
fn wrong_dimension_count_is_rejected() {
    let mut bytes = encode_idx(IdxKind::Labels, 3, &[1, 2, 3]);
    bytes[3] = 2;
    assert_eq!(
        problem(bytes, IdxKind::Labels),
        IdxProblem::BadDimensionCount {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn images_not_28_by_28_are_rejected() {
    let mut bytes = encode_idx(IdxKind::Images, 1, &[0; 784]);
    bytes[11] = 27; // rows
    assert_eq!(
        problem(bytes, IdxKind::Images),
        IdxProblem::BadImageSize { rows: 27, cols: 28 }
    );
}

#[test]
fn truncated_data_is_rejected() {
    let mut bytes = encode_idx(IdxKind::Images, 2, &[0; 2 * 784]);
    bytes.truncate(bytes.len() - 1);
    assert_eq!(
        problem(bytes, IdxKind::Images),
        IdxProblem::Truncated {
            expected: 1568,
            found: 1567
        }
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode_idx(IdxKind::Labels, 2, &[1, 2]);
    bytes.push(3);
    assert_eq!(
        problem(bytes, IdxKind::Labels),
        IdxProblem::TrailingBytes {
            expected: 2,
            found: 3
        }
    );
}

#[test]
fn lying_header_is_caught_without_allocating_its_claim() {
    // Claims 4 billion images (3 TB); the file holds one. The reader must
    // compare against the real length instead of allocating.
    let mut bytes = encode_idx(IdxKind::Images, 1, &[0; 784]);
    bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        problem(bytes, IdxKind::Images),
        IdxProblem::Truncated { found: 784, .. }
    ));
}

#[test]
fn corrupt_gzip_is_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = gzip(&encode_idx(IdxKind::Labels, 100, &[1; 100]));
    let len = bytes.len();
    bytes.truncate(len / 2);
    let path = dir.path().join("broken.gz");
    std::fs::write(&path, &bytes).unwrap();
    let err = read_idx_file(&path, IdxKind::Labels).unwrap_err();
    assert!(matches!(
        err,
        Error::Idx {
            problem: IdxProblem::BadGzip(_),
            ..
        }
    ));
    assert!(err.to_string().contains("broken.gz"), "{err}");
}

#[test]
fn missing_file_error_names_the_file() {
    let err = read_idx_file(std::path::Path::new("/no/such/file"), IdxKind::Labels).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().starts_with("/no/such/file"), "{err}");
}

#[test]
fn data_dir_loads_raw_and_gzipped_files() {
    let data = synthetic_mnist(30, 10);
    for gzipped in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_mnist_dir(dir.path(), &data, gzipped);
        let loaded = load_mnist(dir.path()).unwrap();
        assert_eq!(loaded.train.images(), data.train.images());
        assert_eq!(loaded.train.labels(), data.train.labels());
        assert_eq!(loaded.test.labels(), data.test.labels());
    }
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(30, 10), false);
    std::fs::write(
        dir.path().join(TEST_LABELS),
        encode_idx(IdxKind::Labels, 9, &[0; 9]),
    )
    .unwrap();
    let err = load_split(dir.path(), TEST_IMAGES, TEST_LABELS).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("10 images") && message.contains("9 labels"),
        "{message}"
    );
}

#[test]
fn labels_outside_0_to_9_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(30, 10), false);
    let mut labels = vec![0u8; 30];
    labels[4] = 10;
    std::fs::write(
        dir.path().join(TRAIN_LABELS),
        encode_idx(IdxKind::Labels, 30, &labels),
    )
    .unwrap();
    let message = load_mnist(dir.path()).unwrap_err().to_string();
    assert!(message.contains(TRAIN_LABELS), "{message}");
    assert!(message.contains("label 10 at item 4"), "{message}");
}

#[test]
fn missing_folder_and_missing_file_say_how_to_point_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("nope");
    let message = load_mnist(&absent).unwrap_err().to_string();
    assert!(
        message.contains("does not exist") && message.contains("--data-dir"),
        "{message}"
    );

    write_mnist_dir(dir.path(), &synthetic_mnist(30, 10), true);
    std::fs::remove_file(dir.path().join(format!("{TEST_IMAGES}.gz"))).unwrap();
    let message = load_mnist(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains(TEST_IMAGES) && message.contains("$MNIST_DIR"),
        "{message}"
    );
}
