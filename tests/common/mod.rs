//! A small CNN built once with burn's `Conv2d` and once with `FftConv2d`, shared by the layer
//! tests in f32 and f64, and comparison helpers. Each test binary uses a different part.
#![allow(dead_code)]

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_fftconv::{Conv2dLayer, ConvAlgorithm, FftConv2d};
use fftconv_testing::Sampler;
pub use fftconv_testing::relative_error;

/// The default wgpu device, or `None` where none can be opened (a machine without a Vulkan
/// driver, such as a plain Rust install), after one line that says `test` is skipped and why.
/// The line goes to the terminal itself, past the test harness's output capture.
#[cfg(feature = "wgpu")]
pub fn wgpu_or_skip(test: &str) -> Option<Device> {
    use std::io::Write;
    use std::sync::OnceLock;
    static OPENS: OnceLock<bool> = OnceLock::new();
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let opens = *OPENS.get_or_init(|| {
        // burn panics when no adapter exists; that panic is the answer, not a failure to report.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Tensor::<1>::zeros([1], &device).into_data());
        std::panic::set_hook(report);
        opened.is_ok()
    });
    if !opens {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: no wgpu adapter could be opened (no Vulkan driver; Debian's \
             mesa-vulkan-drivers provides lavapipe, a software one)"
        );
    }
    opens.then_some(device)
}

/// Three convolutions (`Same` padding with an even kernel, stride with groups, dilation)
/// and a linear head.
#[derive(Module, Debug)]
pub struct Cnn<C: Conv2dLayer> {
    pub convs: Vec<C>,
    pub head: Linear,
}

impl<C: Conv2dLayer> Cnn<C> {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.convs.iter().fold(x, |x, conv| relu(conv.convolve(x)));
        let [batch, channels, h, w] = x.dims();
        self.head.forward(x.reshape([batch, channels * h * w]))
    }

    /// Every parameter's values, in a fixed order.
    pub fn parameters(&self) -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        for conv in &self.convs {
            out.push(values(conv.weight().val()));
            out.push(values(conv.bias().expect("built with bias").val()));
        }
        out.push(values(self.head.weight.val()));
        out.push(values(self.head.bias.as_ref().unwrap().val()));
        out
    }

    /// Every parameter's gradient, in the order of [`Cnn::parameters`].
    pub fn gradients(&self, grads: &burn::tensor::Gradients) -> Vec<Vec<f64>> {
        let mut out = Vec::new();
        for conv in &self.convs {
            out.push(values(conv.weight().val().grad(grads).unwrap()));
            out.push(values(
                conv.bias()
                    .expect("built with bias")
                    .val()
                    .grad(grads)
                    .unwrap(),
            ));
        }
        out.push(values(self.head.weight.val().grad(grads).unwrap()));
        out.push(values(
            self.head.bias.as_ref().unwrap().val().grad(grads).unwrap(),
        ));
        out
    }
}

/// `target` with the parameters of `source` (a burn layer and its FFT twin share the record
/// layout), saved to a burnpack file and read back. Read through memory: parameters that burn
/// 0.22.1 loads lazily from a file fail to read back on Flex ("host access failed"), for
/// burn's own layers as well.
pub fn reload<S: burn::store::ModuleSnapshot, T: burn::store::ModuleSnapshot>(
    source: &S,
    mut target: T,
) -> T {
    use burn::store::BurnpackStore;
    let dir = std::env::temp_dir().join(format!(
        "burn-fftconv-record-{}-{}",
        std::process::id(),
        std::any::type_name::<T>().replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("layer.bpk");
    source
        .save_into(&mut BurnpackStore::from_file(&path))
        .unwrap();
    let bytes = burn::tensor::Bytes::from_bytes_vec(std::fs::read(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let result = target
        .load_from(&mut BurnpackStore::from_bytes(Some(bytes)))
        .unwrap();
    assert!(result.errors.is_empty(), "{result:?}");
    target
}

/// A tensor of `values` (row-major, `shape`) on `device` in `dtype`.
pub fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: impl Into<Vec<usize>>,
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape.into()), (device, dtype))
}

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// A `Conv2d` CNN and the same network with every convolution swapped for `FftConv2d`.
pub fn twin_models(device: &Device) -> (Cnn<Conv2d>, Cnn<FftConv2d>) {
    device.seed(42);
    let convs = vec![
        Conv2dConfig::new([1, 4], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(device),
        Conv2dConfig::new([4, 6], [4, 4])
            .with_stride([2, 2])
            .with_groups(2)
            .with_padding(PaddingConfig2d::Same)
            .init(device),
        Conv2dConfig::new([6, 6], [3, 3])
            .with_dilation([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 2, 2, 1))
            .init(device),
    ];
    let head = LinearConfig::new(6 * 5 * 5, 10).init(device);
    let direct = Cnn {
        convs: convs.clone(),
        head: head.clone(),
    };
    let spectral = Cnn {
        convs: convs
            .into_iter()
            .map(|conv| FftConv2d::from(conv).with_algorithm(ConvAlgorithm::Fft))
            .collect(),
        head,
    };
    (direct, spectral)
}

/// A seeded batch of 8 images of 12x12 and their labels.
pub fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let mut sampler = Sampler::new(5);
    let images = Tensor::from_data(
        TensorData::new(sampler.values(8 * 144), [8, 1, 12, 12]),
        device,
    );
    let labels: Vec<i64> = (0..8).map(|_| sampler.range(0, 9) as i64).collect();
    (
        images,
        Tensor::from_data(TensorData::new(labels, [8]), device),
    )
}

/// Loss and parameter gradients of one step, then the parameters after `steps` Adam steps.
pub fn train<C: Conv2dLayer>(
    mut model: Cnn<C>,
    device: &Device,
    steps: usize,
) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (images, labels) = batch(device);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optim = AdamConfig::new().init();
    let mut first = None;
    for _ in 0..steps {
        let loss = loss_fn.forward(model.forward(images.clone()), labels.clone());
        let grads = loss.backward();
        if first.is_none() {
            first = Some((values(loss)[0], model.gradients(&grads)));
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optim.step(1e-2, model, grads);
    }
    let (loss, gradients) = first.expect("at least one step");
    (loss, gradients, model.parameters())
}

/// The twin CNNs give the same loss, gradients and parameters after 5 Adam steps.
pub fn assert_twins_train_alike(device: Device, tolerance: f64) {
    let device = device.autodiff();
    let (direct, spectral) = twin_models(&device);
    let (loss_d, grads_d, params_d) = train(direct, &device, 5);
    let (loss_s, grads_s, params_s) = train(spectral, &device, 5);
    let loss_err = (loss_d - loss_s).abs() / loss_d.abs();
    assert!(loss_err <= tolerance, "loss {loss_s} vs {loss_d}");
    for (i, (g_s, g_d)) in grads_s.iter().zip(&grads_d).enumerate() {
        let err = relative_error(g_s, g_d);
        assert!(
            err <= tolerance,
            "gradient of parameter {i}: relative error {err:e}"
        );
    }
    for (i, (p_s, p_d)) in params_s.iter().zip(&params_d).enumerate() {
        let err = relative_error(p_s, p_d);
        assert!(
            err <= tolerance,
            "parameter {i} after 5 Adam steps: relative error {err:e}"
        );
    }
    println!("{device:?}: loss {loss_s} vs {loss_d}");
}

/// Checks `analytic` (one gradient per input part) against central differences of `eval` at
/// `point`, on `samples` random coordinates of each part: agreement to 1e-7 of the largest
/// gradient entry (at least 1e-3).
pub fn assert_central_differences(
    name: &str,
    point: &[Vec<f64>],
    analytic: &[Vec<f64>],
    eval: impl Fn(&[Vec<f64>]) -> f64,
    sampler: &mut Sampler,
    samples: usize,
    step: f64,
) {
    for (which, grad) in analytic.iter().enumerate() {
        let scale = grad.iter().fold(1e-3f64, |m, g| m.max(g.abs()));
        for _ in 0..samples {
            let i = sampler.range(0, grad.len() - 1);
            let (mut plus, mut minus) = (point.to_vec(), point.to_vec());
            plus[which][i] += step;
            minus[which][i] -= step;
            let numeric = (eval(&plus) - eval(&minus)) / (2.0 * step);
            assert!(
                (numeric - grad[i]).abs() <= 1e-7 * scale,
                "{name}: input {which} index {i}: finite difference {numeric} vs autodiff {}",
                grad[i]
            );
        }
    }
}
