//! Autodiff: a custom backward through the input- and weight-gradient identities that reuses
//! the forward pass's spectra and transforms `dy` once.

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, NodeGuard, Ops, OpsKind},
};
use burn::backend::{Backend, TensorMetadata, tensor::FloatTensor};
use burn::tensor::{Slice, TensorData};
use fftconv_kernels::{ConvGeometry, SpectrumKind};

use crate::ops::{BackwardMemory, ConvPass, Fft2Backend, FftConvBackend};

/// Backward of `fft_conv_pass`. Its state holds, for each tracked operand, the other
/// operand (what that operand's gradient needs), as a spectrum or as a tensor per
/// [`BackwardMemory`].
#[derive(Debug)]
struct FftConvPassBackward;

#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    /// The left operand if the right one is tracked, and the right one if the left is.
    operands: [Option<FloatTensor<B>>; 2],
    /// Whether `operands` are tensors still to transform, not spectra.
    untransformed: bool,
    pass: ConvPass,
    geometry: ConvGeometry,
}

impl<B: Backend + FftConvBackend> Backward<B, 2> for FftConvPassBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let Saved {
            mut operands,
            untransformed,
            pass,
            geometry,
        } = ops.state;
        let kinds = pass.operands();
        let grad_kind = pass.result_kind();
        let mut grad = Some(B::fft_conv_spectrum(
            grads.consume::<B>(&ops.node),
            grad_kind,
            geometry,
        ));
        // The gradient of operand `i` is the pass computing its kind, from the upstream
        // gradient and the other operand `1 - i`. Each product gets the last handle of what it
        // alone uses (the other operand; the upstream spectrum in the last one), so that a
        // host backend takes the buffer back for the next spectrum instead of freeing it.
        let gradients: Vec<_> = ops
            .parents
            .into_iter()
            .enumerate()
            .filter_map(|(i, node)| Some((i, node?, operands[1 - i].take()?)))
            .collect();
        let last = gradients.len().saturating_sub(1);
        for (n, (i, node, other)) in gradients.into_iter().enumerate() {
            let other_kind = kinds[1 - i];
            let other = if untransformed {
                B::fft_conv_spectrum(other, other_kind, geometry)
            } else {
                other
            };
            let grad = if n == last { grad.take() } else { grad.clone() }
                .expect("only the last gradient takes the upstream spectrum");
            let gradient_pass = ConvPass::computing(kinds[i]);
            let (lhs, rhs) = if gradient_pass.operands()[0] == grad_kind {
                (grad, other)
            } else {
                (other, grad)
            };
            grads.register::<B>(
                node.id,
                B::fft_conv_product(lhs, rhs, gradient_pass, geometry),
            );
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
    fn fft_conv_spectrum(
        tensor: FloatTensor<Self>,
        kind: SpectrumKind,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        if tensor.is_tracked() {
            refuse_tracked("fft_conv_spectrum");
        }
        let nodes = [tensor.node()];
        NotDifferentiable
            .prepare::<C>(nodes)
            .compute_bound()
            .stateless(B::fft_conv_spectrum(
                tensor.into_primitive(),
                kind,
                geometry,
            ))
    }

    fn fft_conv_product(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self> {
        if lhs.is_tracked() || rhs.is_tracked() {
            refuse_tracked("fft_conv_product");
        }
        let nodes = [lhs.node(), rhs.node()];
        NotDifferentiable
            .prepare::<C>(nodes)
            .compute_bound()
            .stateless(B::fft_conv_product(
                lhs.into_primitive(),
                rhs.into_primitive(),
                pass,
                geometry,
            ))
    }

    fn fft_conv_pass(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        pass: ConvPass,
        geometry: ConvGeometry,
        memory: BackwardMemory,
    ) -> FloatTensor<Self> {
        let tracked = [lhs.is_tracked(), rhs.is_tracked()];
        // Operand `i` is kept when the other one is tracked.
        let keep = |i: usize, operand: &FloatTensor<B>| tracked[1 - i].then(|| operand.clone());
        match FftConvPassBackward
            .prepare::<C>([lhs.node(), rhs.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) if memory == BackwardMemory::RecomputeSpectra => {
                let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
                let state = Saved {
                    operands: [keep(0, &lhs), keep(1, &rhs)],
                    untransformed: true,
                    pass,
                    geometry,
                };
                prep.finish(state, B::fft_conv_pass(lhs, rhs, pass, geometry, memory))
            }
            OpsKind::Tracked(prep) => {
                let [lhs_kind, rhs_kind] = pass.operands();
                let lhs = B::fft_conv_spectrum(lhs.into_primitive(), lhs_kind, geometry);
                let rhs = B::fft_conv_spectrum(rhs.into_primitive(), rhs_kind, geometry);
                let state = Saved {
                    operands: [keep(0, &lhs), keep(1, &rhs)],
                    untransformed: false,
                    pass,
                    geometry,
                };
                prep.finish(state, B::fft_conv_product(lhs, rhs, pass, geometry))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fft_conv_pass(
                lhs.into_primitive(),
                rhs.into_primitive(),
                pass,
                geometry,
                memory,
            )),
        }
    }
}

/// The two halves of `joined` along dimension 0, each `len` long: how the two-output FFTs
/// travel through one autodiff node.
fn split_halves<B: Backend>(
    joined: FloatTensor<B>,
    len: usize,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let shape = joined.shape();
    let half = |start: usize| -> Vec<Slice> {
        shape
            .iter()
            .enumerate()
            .map(|(d, &n)| Slice::from(if d == 0 { start..start + len } else { 0..n }))
            .collect()
    };
    (
        B::float_slice(joined.clone(), &half(0)),
        B::float_slice(joined, &half(len)),
    )
}

/// A (real, imaginary) pair of tensors of backend `B`.
type Pair<B> = (FloatTensor<B>, FloatTensor<B>);

/// Records `op` over `nodes` for a two-output result `(first, second)`, which autodiff sees
/// as one tensor joined along dimension 0 (`len` each), and returns the two outputs.
fn record_pair<B, C, Op, const N: usize>(
    op: Op,
    nodes: [NodeGuard; N],
    state: Op::State,
    (first, second): Pair<B>,
    len: usize,
) -> Pair<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    Op: Backward<B, N>,
{
    let joined = B::float_cat(vec![first, second], 0);
    let joined = match op.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state, joined),
        OpsKind::UnTracked(prep) => prep.finish(joined),
    };
    split_halves::<Autodiff<B, C>>(joined, len)
}

/// Per-bin weights of a half spectrum shaped like `like` (`[.., height, width / 2 + 1]`):
/// `interior` on the columns that stand for two bins of the full spectrum, 1 on the DC column
/// and, for even widths, the Nyquist column; with `self_conjugate_zero`, 0 on the bins that
/// are their own conjugate (DC or Nyquist along both axes), whose imaginary parts the inverse
/// real DFT ignores.
fn half_spectrum_weights<B: Backend>(
    like: &FloatTensor<B>,
    width: usize,
    interior: f64,
    self_conjugate_zero: bool,
) -> FloatTensor<B> {
    let shape = like.shape();
    let rank = shape.num_dims();
    let (height, half) = (shape[rank - 2], shape[rank - 1]);
    let edge = |index: usize, len: usize| index == 0 || (len.is_multiple_of(2) && index == len / 2);
    let weights: Vec<f64> = (0..height * half)
        .map(|i| {
            let (row, column) = (i / half, i % half);
            let column_is_edge = edge(column, width);
            match (column_is_edge, self_conjugate_zero && edge(row, height)) {
                (true, true) => 0.0,
                (true, false) => 1.0,
                (false, _) => interior,
            }
        })
        .collect();
    let mut weight_shape = vec![1; rank];
    weight_shape[rank - 2] = height;
    weight_shape[rank - 1] = half;
    let data = TensorData::new(weights, weight_shape).convert_dtype(like.dtype());
    B::float_from_data(data, &like.device())
}

impl<B: Backend + Fft2Backend, C: CheckpointStrategy> Fft2Backend for Autodiff<B, C> {
    fn dft2(
        re: FloatTensor<Self>,
        im: FloatTensor<Self>,
        inverse: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        /// The adjoint of an unnormalized DFT is the unnormalized DFT of the opposite sign.
        #[derive(Debug)]
        struct Dft2Backward;

        impl<B: Backend + Fft2Backend> Backward<B, 2> for Dft2Backward {
            type State = (bool, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_re, node_im] = ops.parents;
                let (inverse, len) = ops.state;
                let (grad_re, grad_im) = split_halves::<B>(grads.consume::<B>(&ops.node), len);
                let (dre, dim) = B::dft2(grad_re, grad_im, !inverse);
                if let Some(node) = node_re {
                    grads.register::<B>(node.id, dre);
                }
                if let Some(node) = node_im {
                    grads.register::<B>(node.id, dim);
                }
            }
        }

        let len = re.shape()[0];
        let nodes = [re.node(), im.node()];
        let outputs = B::dft2(re.into_primitive(), im.into_primitive(), inverse);
        record_pair::<B, C, _, 2>(Dft2Backward, nodes, (inverse, len), outputs, len)
    }

    fn rdft2(x: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        /// The adjoint of the real DFT: halve the interior columns (each stands for itself and
        /// its conjugate) and apply the unnormalized inverse real DFT.
        #[derive(Debug)]
        struct Rdft2Backward;

        impl<B: Backend + Fft2Backend> Backward<B, 1> for Rdft2Backward {
            type State = (usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let (len, width) = ops.state;
                let (grad_re, grad_im) = split_halves::<B>(grads.consume::<B>(&ops.node), len);
                let weights = half_spectrum_weights::<B>(&grad_re, width, 0.5, false);
                let grad_re = B::float_mul(grad_re, weights.clone());
                let grad_im = B::float_mul(grad_im, weights);
                if let Some(node) = node {
                    grads.register::<B>(node.id, B::irdft2(grad_re, grad_im, width));
                }
            }
        }

        let shape = x.shape();
        let (len, width) = (shape[0], shape[shape.num_dims() - 1]);
        let nodes = [x.node()];
        let outputs = B::rdft2(x.into_primitive());
        record_pair::<B, C, _, 1>(Rdft2Backward, nodes, (len, width), outputs, len)
    }

    fn irdft2(re: FloatTensor<Self>, im: FloatTensor<Self>, width: usize) -> FloatTensor<Self> {
        /// The adjoint of the inverse real DFT: the real DFT, doubled on the interior columns;
        /// the ignored imaginary parts of self-conjugate bins get exactly zero.
        #[derive(Debug)]
        struct Irdft2Backward;

        impl<B: Backend + Fft2Backend> Backward<B, 2> for Irdft2Backward {
            type State = usize;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_re, node_im] = ops.parents;
                let width = ops.state;
                let (grad_re, grad_im) = B::rdft2(grads.consume::<B>(&ops.node));
                if let Some(node) = node_re {
                    let weights = half_spectrum_weights::<B>(&grad_re, width, 2.0, false);
                    grads.register::<B>(node.id, B::float_mul(grad_re, weights));
                }
                if let Some(node) = node_im {
                    let weights = half_spectrum_weights::<B>(&grad_im, width, 2.0, true);
                    grads.register::<B>(node.id, B::float_mul(grad_im, weights));
                }
            }
        }

        let nodes = [re.node(), im.node()];
        let x = B::irdft2(re.into_primitive(), im.into_primitive(), width);
        match Irdft2Backward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(width, x),
            OpsKind::UnTracked(prep) => prep.finish(x),
        }
    }
}
