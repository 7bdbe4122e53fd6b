//! Saving and loading models.

mod common;
use common::conv_weights;

use burn::tensor::Device;
use fftconv_mnist::store::{load_model, partial_path, save_model};
use fftconv_mnist::train::fft_net;

/// A scratch directory private to one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fftconv-models-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two targets that differ only in extension used to share the temporary `model.bpk.partial`.
#[test]
fn targets_differing_in_extension_get_their_own_temporary_file() {
    let dir = scratch("names");
    let [a, b] = ["model.bpk", "model.bin"].map(|name| partial_path(&dir.join(name)));
    assert_ne!(a, b);
    assert_eq!(a.parent(), Some(dir.as_path()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_saved_model_loads_back_and_no_temporary_file_remains() {
    let dir = scratch("roundtrip");
    let device = Device::flex();
    device.seed(3);
    let saved = fft_net(&device);
    let path = dir.join("nested/net.bin");
    save_model(&saved, &path).unwrap();
    device.seed(4);
    let mut loaded = fft_net(&device);
    load_model(&mut loaded, &path).unwrap();
    assert_eq!(conv_weights(&saved), conv_weights(&loaded));
    let files: Vec<_> = std::fs::read_dir(dir.join("nested"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(files, vec![std::ffi::OsString::from("net.bin")]);
    let err = load_model(&mut loaded, &dir.join("absent.bin")).unwrap_err();
    assert!(err.contains("absent.bin"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
