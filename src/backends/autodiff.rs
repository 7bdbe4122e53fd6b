//! Autodiff: a custom backward through the input- and weight-gradient identities that reuses
//! the forward pass's spectra and transforms `dy` once.

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::{Backend, tensor::FloatTensor};
use fftconv_kernels::{Conv2dGeometry, SpectrumKind};

use crate::ops::{FftConvBackend, Identity};

/// Backward of `fft_conv2d`. Its state holds the weight spectrum when `x` needs a gradient and
/// the input spectrum when the weight does: that memory is the price of not transforming
/// them again.
#[derive(Debug)]
struct FftConv2dBackward;

#[derive(Debug, Clone)]
struct SavedSpectra<B: Backend> {
    input: Option<FloatTensor<B>>,
    weight: Option<FloatTensor<B>>,
    geometry: Conv2dGeometry,
}

impl<B: Backend + FftConvBackend> Backward<B, 2> for FftConv2dBackward {
    type State = SavedSpectra<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let SavedSpectra {
            input,
            weight,
            geometry,
        } = ops.state;
        let grad_spectrum = B::fft_conv2d_spectrum(grad, SpectrumKind::OutputGrad, geometry);
        if let (Some(node), Some(weight)) = (node_x, weight) {
            let dx =
                B::fft_conv2d_product(grad_spectrum.clone(), weight, Identity::InputGrad, geometry);
            grads.register::<B>(node.id, dx);
        }
        if let (Some(node), Some(input)) = (node_weight, input) {
            let dw = B::fft_conv2d_product(grad_spectrum, input, Identity::WeightGrad, geometry);
            grads.register::<B>(node.id, dw);
        }
    }
}

/// Spectra are intermediate values: differentiating through them is not supported, so the
/// primitives refuse tracked inputs instead of silently cutting the graph.
fn refuse_tracked(op: &str) -> ! {
    panic!(
        "fft_conv2d: `{op}` is not differentiable; differentiate `fft_conv2d` itself, or call \
         `{op}` on tensors that do not require gradients"
    )
}

#[derive(Debug)]
struct NotDifferentiable;

impl<B: Backend, const N: usize> Backward<B, N> for NotDifferentiable {
    type State = ();

    fn backward(self, _: Ops<(), N>, _: &mut Gradients, _: &mut Checkpointer) {
        unreachable!("only untracked operations are registered")
    }
}

impl<B: Backend + FftConvBackend, C: CheckpointStrategy> FftConvBackend for Autodiff<B, C> {
    fn fft_conv2d_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self> {
        if tensor.is_tracked() {
            refuse_tracked("fft_conv2d_spectrum");
        }
        let nodes = [tensor.node()];
        NotDifferentiable
            .prepare::<C>(nodes)
            .compute_bound()
            .stateless(B::fft_conv2d_spectrum(
                tensor.into_primitive(),
                kind,
                geometry,
            ))
    }

    fn fft_conv2d_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        identity: Identity,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self> {
        if lhs.is_tracked() || rhs.is_tracked() {
            refuse_tracked("fft_conv2d_product");
        }
        let nodes = [lhs.node(), rhs.node()];
        NotDifferentiable
            .prepare::<C>(nodes)
            .compute_bound()
            .stateless(B::fft_conv2d_product(
                lhs.into_primitive(),
                rhs.into_primitive(),
                identity,
                geometry,
            ))
    }

    fn fft_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        geometry: Conv2dGeometry,
    ) -> FloatTensor<Self> {
        let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
        match FftConv2dBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input =
                    B::fft_conv2d_spectrum(x.into_primitive(), SpectrumKind::Input, geometry);
                let weight =
                    B::fft_conv2d_spectrum(weight.into_primitive(), SpectrumKind::Weight, geometry);
                let y = B::fft_conv2d_product(
                    input.clone(),
                    weight.clone(),
                    Identity::Forward,
                    geometry,
                );
                let state = SavedSpectra {
                    input: weight_tracked.then_some(input),
                    weight: x_tracked.then_some(weight),
                    geometry,
                };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fft_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                geometry,
            )),
        }
    }
}
