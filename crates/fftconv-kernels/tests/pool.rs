//! Buffers handed back to the pool keep their old values; whatever reuses them must overwrite
//! every one. Alone in its process, so no other test takes the buffers it hands back.

use fftconv_kernels::{
    Complex, ConvGeometry, SpectralConv, SpectrumKind, recycle, release_pooled_buffers,
};
use fftconv_testing::Sampler;

/// A spectrum's buffer, handed back full of NaN, serves the next spectrum of its length, and
/// NaN-filled buffers of a product's length serve the products: every result is bitwise the
/// result computed without them. The pool is emptied before each, so that the buffer handed
/// back is the only one there.
#[test]
fn recycled_buffers_serve_later_spectra_and_products_and_leave_no_trace() {
    let geometry = ConvGeometry::new(
        &[2, 3, 21, 17],
        &[4, 3, 3, 5],
        [1, 2],
        [(1, 1), (2, 2)],
        [1, 1],
        1,
    )
    .expect("a valid geometry");
    let plan = SpectralConv::<f64>::with_tile(geometry, [1, 8, 8]).expect("within the budget");
    let mut sampler = Sampler::new(5);
    let x = sampler.values(geometry.input_shape().iter().product());
    let weight = sampler.values(geometry.weight_shape().iter().product());
    let dy = sampler.values(geometry.output_shape().iter().product());
    let spectra = [
        plan.input_spectrum(&x),
        plan.weight_spectrum(&weight),
        plan.output_grad_spectrum(&dy),
    ];
    let [xs, ws, dys] = &spectra;
    let results = [
        plan.forward(xs, ws),
        plan.input_grad(dys, ws),
        plan.weight_grad(dys, xs),
    ];

    let nan = Complex::new(f64::NAN, f64::NAN);
    let mut stale = plan.input_spectrum(&x);
    stale.fill(nan);
    let address = stale.as_ptr();
    release_pooled_buffers();
    recycle(stale);
    let again = plan.input_spectrum(&x);
    assert_eq!(
        again.as_ptr(),
        address,
        "the handed-back buffer serves again"
    );
    assert!(again == spectra[0], "input spectrum");

    let poison = |kind| {
        release_pooled_buffers();
        recycle(vec![nan; plan.spectrum_len(kind)]);
    };
    poison(SpectrumKind::OutputGrad);
    assert!(plan.forward(xs, ws) == results[0], "y");
    poison(SpectrumKind::Input);
    assert!(plan.input_grad(dys, ws) == results[1], "dx");
    poison(SpectrumKind::Weight);
    assert!(plan.weight_grad(dys, xs) == results[2], "dw");
}
