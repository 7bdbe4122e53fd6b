//! `ConvAlgorithm::Tuned`: the algorithm timed on the caller's own device and shapes, as
//! cuDNN's benchmark mode picks its kernels. `Auto`'s cost model was fitted on one machine
//! and misses by over 10% on about one layer in twenty there (small batches, thin layers);
//! a measurement misses only where the two run within its noise of each other.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use burn::tensor::{DType, Device, Tensor};
use fftconv_kernels::ConvGeometry;

use crate::module::{ConvAlgorithm, DirectOp, Passes, passes_of};

/// What a tuned decision is remembered by: one measurement per layer shape, passes, direct
/// operation, device and float type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TuningKey {
    geometry: ConvGeometry,
    passes: Passes,
    op: DirectOp,
    /// The device and float type, as they print: `Device` and `DType` are not `Hash`.
    device: String,
}

impl TuningKey {
    fn new(
        geometry: ConvGeometry,
        passes: Passes,
        op: DirectOp,
        device: &Device,
        dtype: DType,
    ) -> Self {
        Self {
            geometry,
            passes,
            op,
            device: format!("{device:?} {dtype:?}"),
        }
    }
}

/// The decisions measured so far in this process: whether the FFT was the faster.
fn decisions() -> &'static Mutex<HashMap<TuningKey, bool>> {
    static DECISIONS: OnceLock<Mutex<HashMap<TuningKey, bool>>> = OnceLock::new();
    DECISIONS.get_or_init(Mutex::default)
}

fn remembered(key: &TuningKey) -> Option<bool> {
    let decisions = decisions()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    decisions.get(key).copied()
}

/// The algorithm `Tuned` measured as the faster for `passes` of `geometry` against burn's
/// `op`, on `device` in `dtype`: [`ConvAlgorithm::Fft`] or [`ConvAlgorithm::Direct`], or
/// `None` before a layer of that shape has run there. A 1-D layer's geometry is that of its
/// 2-D form ([`crate::conv1d_as_conv2d`]), a transposed layer's that of the convolution whose
/// input gradient it computes.
pub fn tuned_algorithm(
    geometry: &ConvGeometry,
    passes: Passes,
    op: DirectOp,
    device: &Device,
    dtype: DType,
) -> Option<ConvAlgorithm> {
    let key = TuningKey::new(*geometry, passes, op, device, dtype);
    remembered(&key).map(|fft| {
        if fft {
            ConvAlgorithm::Fft
        } else {
            ConvAlgorithm::Direct
        }
    })
}

/// Calls of each algorithm timed after its first (which pays for plans, caches and memory
/// touched the first time, so decides alone only at a [`CLEAR_LEAD`]), alternating so that a
/// slow spell of a shared machine falls on both.
const TIMED_CALLS: usize = 2;

/// A ratio of first calls past which the slower one is not timed again: one algorithm many
/// times slower (NdArray's direct convolution runs 70x-300x the FFT's time) would otherwise
/// cost that many times the call again.
const CLEAR_LEAD: f64 = 8.0;

/// Whether `Tuned` takes the FFT for a call on `input` and `weight` whose convolution is
/// `geometry` (`None` when invalid: the FFT's error then names the bad argument), against
/// burn's `op`. The first call of a key times `run` (the FFT when given `true`, burn's
/// operation when given `false`) on copies of the operands detached from the caller's graph
/// (for a training step, its forward pass and the gradients the caller's autodiff tracks)
/// and remembers the faster. A layer past the spectral budget goes direct untimed.
pub(crate) fn tuned_takes_fft<const D: usize>(
    geometry: Option<ConvGeometry>,
    op: DirectOp,
    [input, weight]: [&Tensor<D>; 2],
    bias: Option<&Tensor<1>>,
    run: impl Fn(bool, [Tensor<D>; 2], Option<Tensor<1>>) -> Tensor<D>,
) -> bool {
    let Some(geometry) = geometry else {
        return true;
    };
    let device = input.device();
    if !crate::functional::within_budget(&device, &geometry) {
        return false;
    }
    let passes = passes_of(input, weight);
    let key = TuningKey::new(geometry, passes, op, &device, input.dtype());
    if let Some(fft) = remembered(&key) {
        return fft;
    }
    let fft = fft_is_faster(|fft| {
        let start = Instant::now();
        call_detached(fft, passes, [input, weight], bias, &run);
        device
            .sync()
            .unwrap_or_else(|error| panic!("timing the convolutions: {error:?}"));
        start.elapsed()
    });
    decisions()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, fft);
    fft
}

/// One call of `run` on copies of the operands in a graph of their own: the forward pass,
/// and for a training step the backward pass of the sum of its output, computing the
/// gradients of those `passes` names.
fn call_detached<const D: usize>(
    fft: bool,
    passes: Passes,
    [input, weight]: [&Tensor<D>; 2],
    bias: Option<&Tensor<1>>,
    run: &impl Fn(bool, [Tensor<D>; 2], Option<Tensor<1>>) -> Tensor<D>,
) {
    let leaf = |tensor: &Tensor<D>, tracked: bool| {
        let tensor = tensor.clone().detach();
        if tracked {
            tensor.require_grad()
        } else {
            tensor
        }
    };
    let x = leaf(input, passes.input_grad);
    let w = leaf(weight, passes.weight_grad);
    let bias = bias.map(|bias| bias.clone().detach());
    let y = run(fft, [x.clone(), w.clone()], bias);
    if passes != Passes::FORWARD {
        let mut grads = y.sum().backward();
        for (tensor, tracked) in [(x, passes.input_grad), (w, passes.weight_grad)] {
            if tracked {
                drop(tensor.grad_remove(&mut grads));
            }
        }
    }
}

/// Whether the FFT is the faster by `time` (a call of the FFT when given `true`): one first
/// call of each, then, unless one took [`CLEAR_LEAD`] times the other, [`TIMED_CALLS`] more
/// of each alternately, the fastest of those compared.
fn fft_is_faster(mut time: impl FnMut(bool) -> Duration) -> bool {
    let (first_fft, first_direct) = (time(true), time(false));
    let ratio = first_fft.as_secs_f64() / first_direct.as_secs_f64().max(f64::MIN_POSITIVE);
    if !(1.0 / CLEAR_LEAD..=CLEAR_LEAD).contains(&ratio) {
        return ratio < 1.0;
    }
    let (mut fft, mut direct) = (Duration::MAX, Duration::MAX);
    for _ in 0..TIMED_CALLS {
        fft = fft.min(time(true));
        direct = direct.min(time(false));
    }
    fft <= direct
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times that a list hands out in order, each call logged by algorithm.
    fn scripted(
        times_ms: &[(bool, u64)],
    ) -> (impl FnMut(bool) -> Duration + '_, impl Fn() -> usize) {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = calls.clone();
        let time = move |fft: bool| {
            let (expected, ms) = times_ms[calls.get()];
            assert_eq!(
                fft,
                expected,
                "call {} times the other algorithm",
                calls.get()
            );
            calls.set(calls.get() + 1);
            Duration::from_millis(ms)
        };
        (time, move || counter.get())
    }

    #[test]
    fn the_fastest_timed_call_of_each_decides_not_the_first() {
        // The FFT's first call builds its plans: slow, then faster than direct.
        let (time, calls) = scripted(&[
            (true, 30),
            (false, 10),
            (true, 8),
            (false, 10),
            (true, 9),
            (false, 11),
        ]);
        assert!(fft_is_faster(time));
        assert_eq!(calls(), 2 + 2 * TIMED_CALLS);
        let (time, calls) = scripted(&[
            (true, 10),
            (false, 12),
            (true, 13),
            (false, 9),
            (true, 12),
            (false, 12),
        ]);
        assert!(!fft_is_faster(time));
        assert_eq!(calls(), 2 + 2 * TIMED_CALLS);
    }

    #[test]
    fn a_clear_lead_on_the_first_calls_decides_at_once() {
        let (time, calls) = scripted(&[(true, 10), (false, 300)]);
        assert!(fft_is_faster(time));
        assert_eq!(calls(), 2);
        let (time, calls) = scripted(&[(true, 900), (false, 100)]);
        assert!(!fft_is_faster(time));
        assert_eq!(calls(), 2);
    }
}
