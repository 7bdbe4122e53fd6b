//! The differentiable 2-D FFTs: dense-matrix adjoint tests in f64 (every map, odd and even
//! sizes, every normalization, Flex and NdArray), values against the DFT definition, finite
//! differences through a nonlinear loss, and the Hermitian gradient rules of real FFTs.

use burn::tensor::activation::tanh;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_fftconv::{FftNorm, fft2, ifft2, irfft2, rfft2};
use fftconv_testing::{Sampler, relative_error};
use std::f64::consts::PI;

mod common;
use common::{assert_central_differences, values};

const NORMS: [FftNorm; 3] = [FftNorm::Backward, FftNorm::Ortho, FftNorm::Forward];
const SIZES: [[usize; 2]; 4] = [[4, 6], [5, 7], [3, 4], [6, 5]];

type Map = dyn Fn(&[Tensor<3>]) -> Vec<Tensor<3>>;

fn tensor(values: Vec<f64>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), (device, DType::F64))
}

/// A batch of `rows` maps of `size`; map `j` holds a 1 at flat position `j - offset` when
/// that lies inside the map.
fn units(rows: usize, offset: usize, size: [usize; 2], device: &Device) -> Tensor<3> {
    let n = size[0] * size[1];
    let mut data = vec![0.0; rows * n];
    for j in offset..(offset + n).min(rows) {
        data[j * n + j - offset] = 1.0;
    }
    tensor(data, [rows, size[0], size[1]], device)
}

/// The matrix of a linear map from `parts` maps of `in_size` (rows: outputs of all parts,
/// concatenated; columns: inputs), from its forward pass on unit inputs.
fn forward_matrix(map: &Map, parts: usize, in_size: [usize; 2], device: &Device) -> Vec<Vec<f64>> {
    let n_in = parts * in_size[0] * in_size[1];
    let inputs: Vec<Tensor<3>> = (0..parts)
        .map(|p| units(n_in, p * in_size[0] * in_size[1], in_size, device))
        .collect();
    let outputs: Vec<Vec<f64>> = map(&inputs).into_iter().map(values).collect();
    let mut columns = vec![Vec::new(); n_in];
    for out in &outputs {
        let per_input = out.len() / n_in;
        for (b, column) in columns.iter_mut().enumerate() {
            column.extend_from_slice(&out[b * per_input..(b + 1) * per_input]);
        }
    }
    (0..columns[0].len())
        .map(|j| columns.iter().map(|c| c[j]).collect())
        .collect()
}

/// The matrix of the map's claimed transpose, from its autodiff backward on unit cotangents;
/// laid out like [`forward_matrix`] (entry `[j][b]` is the transpose's `[b][j]`).
fn adjoint_matrix(map: &Map, parts: usize, in_size: [usize; 2], device: &Device) -> Vec<Vec<f64>> {
    let ad = device.clone().autodiff();
    let probe: Vec<Tensor<3>> = (0..parts)
        .map(|_| Tensor::zeros([1, in_size[0], in_size[1]], (&ad, DType::F64)))
        .collect();
    let out_sizes: Vec<[usize; 3]> = map(&probe).iter().map(|t| t.dims()).collect();
    let n_out: usize = out_sizes.iter().map(|d| d[1] * d[2]).sum();
    let inputs: Vec<Tensor<3>> = (0..parts)
        .map(|_| Tensor::zeros([n_out, in_size[0], in_size[1]], (&ad, DType::F64)).require_grad())
        .collect();
    let mut offset = 0;
    let mut loss = Tensor::<1>::zeros([1], (&ad, DType::F64));
    for (out, dims) in map(&inputs).into_iter().zip(&out_sizes) {
        loss = loss + (out * units(n_out, offset, [dims[1], dims[2]], &ad)).sum();
        offset += dims[1] * dims[2];
    }
    let grads = loss.backward();
    let per_part: Vec<Vec<f64>> = inputs
        .iter()
        .map(|x| values(x.grad(&grads).unwrap()))
        .collect();
    let n = in_size[0] * in_size[1];
    (0..n_out)
        .map(|j| {
            per_part
                .iter()
                .flat_map(|g| g[j * n..(j + 1) * n].iter().copied())
                .collect()
        })
        .collect()
}

fn assert_adjoint(name: &str, map: &Map, parts: usize, in_size: [usize; 2], device: &Device) {
    let forward = forward_matrix(map, parts, in_size, device);
    let adjoint = adjoint_matrix(map, parts, in_size, device);
    let err = relative_error(&adjoint.concat(), &forward.concat());
    assert!(
        err <= 1e-12,
        "{name} {in_size:?} on {device:?}: adjoint off by {err:e}"
    );
}

/// A named map and how many input parts (real maps) it takes.
type NamedMap = (String, Box<Map>, usize);

/// The maps whose input and output maps have the same size.
fn all_maps() -> Vec<NamedMap> {
    let mut maps: Vec<NamedMap> = Vec::new();
    for norm in NORMS {
        maps.push((
            format!("fft2 {norm:?}"),
            Box::new(move |x: &[Tensor<3>]| {
                let (re, im) = fft2(x[0].clone(), x[1].clone(), None, norm);
                vec![re, im]
            }),
            2,
        ));
        maps.push((
            format!("ifft2 {norm:?}"),
            Box::new(move |x: &[Tensor<3>]| {
                let (re, im) = ifft2(x[0].clone(), x[1].clone(), None, norm);
                vec![re, im]
            }),
            2,
        ));
        maps.push((
            format!("rfft2 {norm:?}"),
            Box::new(move |x: &[Tensor<3>]| {
                let (re, im) = rfft2(x[0].clone(), None, norm);
                vec![re, im]
            }),
            1,
        ));
    }
    maps
}

#[test]
#[allow(deprecated)]
fn every_map_has_its_transpose_as_gradient() {
    for device in [Device::flex(), Device::ndarray()] {
        for size in SIZES {
            for (name, map, parts) in all_maps() {
                assert_adjoint(&name, map.as_ref(), parts, size, &device);
            }
            for norm in NORMS {
                let map = move |x: &[Tensor<3>]| {
                    vec![irfft2(x[0].clone(), x[1].clone(), Some(size), norm)]
                };
                assert_adjoint(
                    &format!("irfft2 {norm:?}"),
                    &map,
                    2,
                    [size[0], size[1] / 2 + 1],
                    &device,
                );
            }
        }
    }
}

#[test]
fn forward_values_follow_the_definition() {
    let device = Device::flex();
    for size @ [h, w] in SIZES {
        let rfft = forward_matrix(
            &|x: &[Tensor<3>]| {
                let (re, im) = rfft2(x[0].clone(), None, FftNorm::Backward);
                vec![re, im]
            },
            1,
            size,
            &device,
        );
        let half = w / 2 + 1;
        for (j, row) in rfft.iter().enumerate() {
            let (part, bin) = (j / (h * half), j % (h * half));
            let (kh, kw) = (bin / half, bin % half);
            for (b, &value) in row.iter().enumerate() {
                let angle = 2.0
                    * PI
                    * ((kh * (b / w)) as f64 / h as f64 + (kw * (b % w)) as f64 / w as f64);
                let expected = if part == 0 { angle.cos() } else { -angle.sin() };
                assert!(
                    (value - expected).abs() < 1e-12,
                    "rfft2 {size:?} bin {bin} input {b}"
                );
            }
        }
        let mut sampler = Sampler::new(3);
        let re = tensor(sampler.values(h * w), [1, h, w], &device);
        let im = tensor(sampler.values(h * w), [1, h, w], &device);
        let (fr, fi) = fft2(re.clone(), im.clone(), None, FftNorm::Ortho);
        let (br, bi) = ifft2(fr, fi, None, FftNorm::Ortho);
        for (a, b) in values(br)
            .iter()
            .zip(values(re))
            .chain(values(bi).iter().zip(values(im)))
        {
            assert!((a - b).abs() < 1e-12, "ifft2(fft2(z)) != z for {size:?}");
        }
        let x = tensor(sampler.values(h * w), [1, h, w], &device);
        let (xr, xi) = rfft2(x.clone(), None, FftNorm::Forward);
        let back = irfft2(xr, xi, Some(size), FftNorm::Forward);
        for (a, b) in values(back).iter().zip(values(x)) {
            assert!((a - b).abs() < 1e-12, "irfft2(rfft2(x)) != x for {size:?}");
        }
    }
}

/// Central differences of `loss` against its autodiff gradient at a few coordinates of each
/// input part.
fn check_finite_differences(
    name: &str,
    parts: Vec<Vec<f64>>,
    shape: [usize; 3],
    loss: &dyn Fn(&[Tensor<3>]) -> Tensor<1>,
) {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let inputs: Vec<Tensor<3>> = parts
        .iter()
        .map(|p| tensor(p.clone(), shape, &ad).require_grad())
        .collect();
    let grads = loss(&inputs).backward();
    let analytic: Vec<Vec<f64>> = inputs
        .iter()
        .map(|x| values(x.grad(&grads).unwrap()))
        .collect();
    let eval = |parts: &[Vec<f64>]| -> f64 {
        let inputs: Vec<Tensor<3>> = parts
            .iter()
            .map(|p| tensor(p.clone(), shape, &device))
            .collect();
        values(loss(&inputs))[0]
    };
    assert_central_differences(
        name,
        &parts,
        &analytic,
        eval,
        &mut Sampler::new(23),
        10,
        1e-6,
    );
}

#[test]
fn finite_differences_through_a_nonlinear_loss() {
    for size @ [h, w] in [[4, 6], [5, 7]] {
        let mut sampler = Sampler::new(9);
        let real = |s: &mut Sampler| s.values(2 * h * w);
        let r = sampler.values(2 * h * w);
        let weights = move |dims: [usize; 3], device: &Device| {
            tensor(r[..dims.iter().product::<usize>()].to_vec(), dims, device)
        };
        let w2 = weights.clone();
        check_finite_differences("rfft2", vec![real(&mut sampler)], [2, h, w], &move |x| {
            let (re, im) = rfft2(x[0].clone(), None, FftNorm::Ortho);
            let d = re.dims();
            (tanh(re) * weights(d, &x[0].device()) + tanh(im) * 0.5).sum()
        });
        let half = w / 2 + 1;
        check_finite_differences(
            "irfft2",
            vec![sampler.values(2 * h * half), sampler.values(2 * h * half)],
            [2, h, half],
            &move |x| {
                let y = irfft2(x[0].clone(), x[1].clone(), Some(size), FftNorm::Backward);
                let d = y.dims();
                (tanh(y * 3.0) * w2(d, &x[0].device())).sum()
            },
        );
        check_finite_differences(
            "fft2",
            vec![real(&mut sampler), real(&mut sampler)],
            [2, h, w],
            &|x| {
                let (re, im) = fft2(
                    x[0].clone(),
                    x[1].clone(),
                    Some([h + 1, w - 1]),
                    FftNorm::Forward,
                );
                (tanh(re.clone() * im) * 4.0).sum()
            },
        );
    }
}

#[test]
fn self_conjugate_imaginary_parts_get_exactly_zero_gradient_and_the_naive_rule_fails() {
    let device = Device::flex().autodiff();
    let (h, w) = (4, 6);
    let half = w / 2 + 1;
    let mut sampler = Sampler::new(31);
    let re = tensor(sampler.values(h * half), [1, h, half], &device).require_grad();
    let im = tensor(sampler.values(h * half), [1, h, half], &device).require_grad();
    let g = tensor(sampler.values(h * w), [1, h, w], &device);
    let y = irfft2(re.clone(), im.clone(), Some([h, w]), FftNorm::Backward);
    let grads = (y * g.clone()).sum().backward();
    let grad_re = values(re.grad(&grads).unwrap());
    let grad_im = values(im.grad(&grads).unwrap());
    for (row, column) in [(0, 0), (0, w / 2), (h / 2, 0), (h / 2, w / 2)] {
        assert_eq!(grad_im[row * half + column], 0.0, "bin ({row}, {column})");
    }
    // The naive rule: the plain (scaled) forward transform of the output gradient, without
    // doubling the interior columns.
    let (naive_re, _) = rfft2(g.inner(), None, FftNorm::Forward);
    let naive_re = values(naive_re);
    let interior = |i: &usize| (1..w / 2).contains(&(i % half));
    let worst = (0..grad_re.len())
        .filter(interior)
        .map(|i| (grad_re[i] - naive_re[i]).abs() / grad_re[i].abs().max(1e-12))
        .fold(0.0f64, f64::max);
    assert!(
        worst >= 0.49,
        "the naive rule should be off by a factor of two, got {worst}"
    );
}

/// On wgpu (lavapipe in CI) the transforms are burn-signal's FFTs along power-of-two axes
/// and Bluestein's algorithm along the others: values and autodiff gradients against Flex,
/// in f32, for every map, odd, even and power-of-two sizes.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_matches_flex_with_gradients() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_matches_flex_with_gradients") else {
        return;
    };
    let devices = [Device::flex(), wgpu];
    let mut sampler = Sampler::new(21);
    for size in [[5, 6], [4, 7], [4, 8], [12, 33]] {
        for (name, map, parts) in all_maps() {
            let inputs: Vec<Vec<f64>> = (0..parts)
                .map(|_| sampler.values(2 * size[0] * size[1]))
                .collect();
            let weights = sampler.values(2 * size[0] * size[1]);
            let [on_flex, on_wgpu] = devices.clone().map(|device| {
                let ad = device.autodiff();
                let x: Vec<Tensor<3>> = inputs
                    .iter()
                    .map(|v| {
                        let shape = [2, size[0], size[1]];
                        Tensor::from_data(TensorData::new(v.clone(), shape), &ad).require_grad()
                    })
                    .collect();
                let outputs = map(&x);
                let loss = outputs
                    .iter()
                    .map(|o| {
                        let count = o.dims().iter().product();
                        let r = TensorData::new(weights[..count].to_vec(), o.dims());
                        (o.clone() * Tensor::from_data(r, &ad)).sum()
                    })
                    .reduce(|a, b| a + b)
                    .unwrap();
                let grads = loss.backward();
                let mut all: Vec<f64> = outputs.into_iter().flat_map(values).collect();
                all.extend(x.iter().flat_map(|x| values(x.grad(&grads).unwrap())));
                all
            });
            let scale = on_flex.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            let err = on_flex
                .iter()
                .zip(&on_wgpu)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 1e-4 * scale,
                "{name} {size:?}: off by {err:e} of {scale:e}"
            );
        }
    }
}

/// In f64 on wgpu each transform panics with the reason (their FFTs, cubek-fft's, compute
/// turns with sine and cosine, which Vulkan defines for 32-bit floats only): before, they
/// returned garbage, off by more than the values' own magnitude.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_refuses_f64_with_the_reason() {
    let Some(wgpu) = common::wgpu_or_skip("wgpu_refuses_f64_with_the_reason") else {
        return;
    };
    let x = || Tensor::<3>::zeros([1, 4, 8], (&wgpu, DType::F64));
    let refused = |name: &str, call: &dyn Fn()| {
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
            .expect_err(name)
            .downcast::<String>()
            .map(|message| *message)
            .unwrap_or_default();
        assert!(
            message.starts_with(name) && message.contains("f64 FFTs on CubeCL devices"),
            "{name}: {message}"
        );
    };
    let norm = FftNorm::Backward;
    refused("fft2", &|| drop(fft2(x(), x(), None, norm)));
    refused("ifft2", &|| drop(ifft2(x(), x(), None, norm)));
    refused("rfft2", &|| drop(rfft2(x(), None, norm)));
    refused("irfft2", &|| drop(irfft2(x(), x(), Some([4, 14]), norm)));
}
