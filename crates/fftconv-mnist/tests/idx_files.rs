//! The IDX reader on the bundled files and on crafted bad ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use fftconv_mnist::dataset::{self, Mnist};
use fftconv_mnist::idx::{IMAGES_MAGIC, IdxError, LABELS_MAGIC, read_idx};

fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k")
}

/// A scratch directory private to one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fftconv-mnist-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn bundled_subset_reads_and_splits_8000_2000() {
    let (train, test) = dataset::bundled(&bundled_dir()).unwrap();
    assert_eq!((train.len(), test.len()), (8000, 2000));
    assert_eq!((train.rows, train.cols), (28, 28));
    assert_eq!(train.pixels.len(), 8000 * 784);
    let mut counts = [0usize; 10];
    for &l in train.labels.iter().chain(&test.labels) {
        counts[l as usize] += 1;
    }
    // Class counts from the data set's README.
    assert_eq!(
        counts,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
}

#[test]
fn plain_and_gzipped_files_read_the_same() {
    let dir = scratch("plain");
    let mut bytes = header(IMAGES_MAGIC, &[2, 3, 4]);
    bytes.extend(0..24u8);
    let plain = read_idx(&write(&dir, "a", &bytes), IMAGES_MAGIC).unwrap();
    let gzipped = read_idx(&write(&dir, "a.gz", &gzip(&bytes)), IMAGES_MAGIC).unwrap();
    assert_eq!(plain, gzipped);
    assert_eq!(plain.dims, vec![2, 3, 4]);
    assert_eq!(plain.data, (0..24).collect::<Vec<u8>>());
    std::fs::remove_dir_all(dir).unwrap();
}

fn error_of(name: &str, bytes: &[u8], magic: u32) -> String {
    let dir = scratch(name);
    let err = read_idx(&write(&dir, name, bytes), magic).unwrap_err();
    std::fs::remove_dir_all(dir).unwrap();
    err.to_string()
}

#[test]
fn wrong_magic_is_refused() {
    let mut bytes = header(LABELS_MAGIC, &[3]);
    bytes.extend([1, 2, 3]);
    let msg = error_of("magic", &bytes, IMAGES_MAGIC);
    assert!(
        msg.contains("magic number 0x00000801, expected 0x00000803"),
        "{msg}"
    );
}

#[test]
fn a_header_claiming_2_pow_31_images_is_refused_before_allocating() {
    let bytes = header(IMAGES_MAGIC, &[1 << 31, 28, 28]);
    let msg = error_of("huge", &bytes, IMAGES_MAGIC);
    assert!(
        msg.contains("[2147483648, 28, 28]") && msg.contains("at most"),
        "{msg}"
    );
    let msg = error_of(
        "huge.gz",
        &gzip(&header(IMAGES_MAGIC, &[1 << 20, 28, 28])),
        IMAGES_MAGIC,
    );
    assert!(
        msg.contains("gzip trailer records 16 uncompressed bytes"),
        "{msg}"
    );
}

#[test]
fn truncated_files_are_refused() {
    let mut bytes = header(IMAGES_MAGIC, &[2, 3, 4]);
    bytes.extend(0..20u8);
    let msg = error_of("short", &bytes, IMAGES_MAGIC);
    assert!(
        msg.contains("claims dimensions [2, 3, 4]") && msg.contains("holds 20 bytes"),
        "{msg}"
    );
    let msg = error_of("header", &bytes[..6], IMAGES_MAGIC);
    assert!(msg.contains("truncated"), "{msg}");
    let gz = gzip(&bytes);
    let msg = error_of("short.gz", &gz[..gz.len() - 6], IMAGES_MAGIC);
    assert!(!msg.is_empty());
}

#[test]
fn trailing_and_corrupt_data_are_refused() {
    let mut bytes = header(LABELS_MAGIC, &[3]);
    bytes.extend([1, 2, 3, 4]);
    let msg = error_of("long", &bytes, LABELS_MAGIC);
    assert!(msg.contains("holds 4 bytes"), "{msg}");
    let mut gz = gzip(&bytes[..bytes.len() - 1]);
    let middle = gz.len() / 2;
    gz[middle] ^= 0xff;
    let msg = error_of("corrupt.gz", &gz, LABELS_MAGIC);
    assert!(!msg.is_empty());
}

#[test]
fn labels_must_match_images_and_be_digits() {
    let dir = scratch("labels");
    let mut images = header(IMAGES_MAGIC, &[2, 28, 28]);
    images.extend([0; 2 * 784]);
    let images = write(&dir, "images", &images);
    let mut three = header(LABELS_MAGIC, &[3]);
    three.extend([1, 2, 3]);
    let err = Mnist::load(&images, &write(&dir, "three", &three)).unwrap_err();
    assert!(
        err.to_string().contains("3 labels for the 2 images"),
        "{err}"
    );
    let mut bad = header(LABELS_MAGIC, &[2]);
    bad.extend([1, 12]);
    let err = Mnist::load(&images, &write(&dir, "bad", &bad)).unwrap_err();
    assert!(
        matches!(err, IdxError::Content { .. }) && err.to_string().contains("label 12 at index 1"),
        "{err}"
    );
    let missing = Mnist::load(&dir.join("absent"), &images).unwrap_err();
    assert!(missing.to_string().contains("absent"), "{missing}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn full_mnist_file_names_are_found_plain_or_gzipped() {
    let dir = scratch("full");
    let images = |count: u32| {
        let mut bytes = header(IMAGES_MAGIC, &[count, 28, 28]);
        bytes.extend((0..count * 784).map(|v| v as u8));
        bytes
    };
    let labels = |count: u32| {
        let mut bytes = header(LABELS_MAGIC, &[count]);
        bytes.extend((0..count).map(|v| (v % 10) as u8));
        bytes
    };
    write(&dir, "train-images-idx3-ubyte.gz", &gzip(&images(5)));
    write(&dir, "train-labels-idx1-ubyte", &labels(5));
    write(&dir, "t10k-images-idx3-ubyte", &images(3));
    write(&dir, "t10k-labels-idx1-ubyte.gz", &gzip(&labels(3)));
    let (train, test) = dataset::full(&dir).unwrap();
    assert_eq!((train.len(), test.len()), (5, 3));
    assert_eq!((train.rows, train.cols), (28, 28));
    assert_eq!(test.labels, vec![0, 1, 2]);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = dataset::full(&dir).unwrap_err().to_string();
    assert!(err.contains("t10k-labels-idx1-ubyte"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Dimensions whose product is 2^64: it wrapped to 0 in release builds and a 16-byte file
/// passed as an empty data set.
#[test]
fn dimensions_whose_product_overflows_are_refused() {
    let bytes = header(IMAGES_MAGIC, &[1 << 22, 1 << 21, 1 << 21]);
    let msg = error_of("overflow", &bytes, IMAGES_MAGIC);
    assert!(
        msg.contains("[4194304, 2097152, 2097152] (more than 2^64 bytes of data)")
            && msg.contains("at most"),
        "{msg}"
    );
}

/// A second gzip member after the first one is data the header does not describe.
#[test]
fn a_second_gzip_member_is_refused() {
    let mut bytes = header(LABELS_MAGIC, &[3]);
    bytes.extend([1, 2, 3]);
    // The same member twice: the trailer at the end of the file records the right size.
    let mut two_members = gzip(&bytes);
    two_members.extend(gzip(&bytes));
    let msg = error_of("two.gz", &two_members, LABELS_MAGIC);
    assert!(
        msg.contains("data continues past what the header describes"),
        "{msg}"
    );
}

/// A small gzip file whose header claims more than DEFLATE can expand to, with its trailer
/// patched to agree with the header.
#[test]
fn a_claim_beyond_the_compression_limit_is_refused() {
    let dims = [1000, 28, 28];
    let mut gz = gzip(&header(IMAGES_MAGIC, &dims));
    let claimed = 16 + 1000 * 784u32;
    let len = gz.len();
    gz[len - 4..].copy_from_slice(&claimed.to_le_bytes());
    let msg = error_of("bomb.gz", &gz, IMAGES_MAGIC);
    assert!(
        msg.contains("784000 bytes of data")
            && msg.contains(&format!("only {len} compressed bytes")),
        "{msg}"
    );
}

#[test]
fn images_that_are_not_28x28_are_refused() {
    let dir = scratch("side");
    let mut images = header(IMAGES_MAGIC, &[2, 2, 3]);
    images.extend([0; 12]);
    let mut labels = header(LABELS_MAGIC, &[2]);
    labels.extend([1, 2]);
    let err = Mnist::load(
        &write(&dir, "images", &images),
        &write(&dir, "labels", &labels),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("images of 2x3 pixels; MNIST digits are 28x28"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
