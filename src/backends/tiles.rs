//! The tile kernels of the CubeCL backends: overlap-save convolution over small 2-D tiles
//! whose FFTs run in shared memory, one cube per tile of one image.
//!
//! - [`spectrum`]: one launch gathers each tile (zero padding, the weight's dilation, the
//!   output gradient spread onto the stride-1 grid), transforms it and writes its half
//!   spectrum straight into the bin-major matrices of the channel contraction.
//! - [`inverse`]: one launch rebuilds each result tile's full spectrum from its half
//!   (Hermitian symmetry) and transforms it back; a second, one unit per result value, sums
//!   the tiles that cover the value (one for `y` and `dw`, overlapping ones for `dx`) at its
//!   stride or dilation.
//!
//! Tile `t` of an axis starts at stride-1 output `t * step`: an input tile holds the padded
//! input from there (`tile` samples), an output-gradient tile the `step` gradients from there,
//! followed by zeros, and the weight tile the dilated kernel. So the forward tile's first
//! `step` values are the correlation's (overlap-save), the input gradient's tiles overlap by
//! `tile - step` (overlap-add), and the weight gradient's single tile sums every tile's
//! correlation without wrapping (see `docs/correctness.md`).
// The launch functions that `#[cube(launch)]` generates take every argument, and `#[cube]`
// code has the remainder operator, not `is_multiple_of`.
#![allow(clippy::too_many_arguments, clippy::manual_is_multiple_of)]

use burn::backend::TensorMetadata;
use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::{DType, Shape, Slice};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use cubecl::prelude::*;
use fftconv_kernels::{AxisGeometry, ConvGeometry, SpectrumKind};

use crate::layout::{AxisTiles, DeviceTiling};
use crate::ops::ConvPass;

/// Units per cube of the tile kernels for tiles of `points`: one butterfly each per stage,
/// within bounds.
fn units_for(points: usize) -> usize {
    (points / 2).clamp(32, 256)
}

/// Reverses the lowest `bits` bits of `i`.
#[cube]
fn bit_reverse(i: usize, #[comptime] bits: usize) -> usize {
    let mut reversed = 0usize;
    let mut rest = i;
    #[unroll]
    for _ in 0..bits {
        reversed = (reversed << 1usize) | (rest & 1usize);
        rest >>= 1usize;
    }
    reversed
}

/// Radix-2 butterflies of one axis of a bit-reversed `[t0, t1]` tile in shared memory:
/// `lines` transforms of `2^bits` points, point `p` of line `l` at `l * line_step + p *
/// point_step`; `units` units.
#[cube]
fn butterflies<F: Float>(
    re: &mut Shared<[F]>,
    im: &mut Shared<[F]>,
    #[comptime] bits: usize,
    #[comptime] lines: usize,
    #[comptime] line_step: usize,
    #[comptime] point_step: usize,
    #[comptime] inverse: bool,
    #[comptime] units: usize,
) {
    let per_line = comptime![((1usize << bits) / 2).max(1)];
    let count = comptime![lines * (1usize << bits) / 2];
    let sign = if inverse { F::new(1.0) } else { F::new(-1.0) };
    let tau = F::new(core::f32::consts::TAU);
    let mut stage = 0usize;
    while stage < bits {
        let half = 1usize << stage;
        // The turn of offset `o` at this stage, `∓2π o / (2 half)`, is `o` times this.
        let step = sign * tau / F::cast_from(half << 1usize);
        let mut b = UNIT_POS as usize;
        while b < count {
            // Consecutive units take neighbouring shared-memory words: butterflies of one
            // line where its points are adjacent, else the same butterfly of adjacent lines.
            let (line, j) = if comptime![point_step == 1] {
                (b / per_line, b % per_line)
            } else {
                (b % lines, b / lines)
            };
            let group = j >> stage;
            let offset = j & (half - 1);
            let first = line * line_step + (((group << stage) << 1usize) + offset) * point_step;
            let second = first + half * point_step;
            let angle = step * F::cast_from(offset);
            let (c, s) = (angle.cos(), angle.sin());
            let (b_re, b_im) = (re[second], im[second]);
            let t_re = c * b_re - s * b_im;
            let t_im = c * b_im + s * b_re;
            let (a_re, a_im) = (re[first], im[first]);
            re[first] = a_re + t_re;
            im[first] = a_im + t_im;
            re[second] = a_re - t_re;
            im[second] = a_im - t_im;
            b += units;
        }
        sync_cube();
        stage += 1usize;
    }
}

/// The 2-D FFT of a bit-reversed `[2^bits0, 2^bits1]` tile in shared memory, in place.
#[cube]
fn transform<F: Float>(
    re: &mut Shared<[F]>,
    im: &mut Shared<[F]>,
    #[comptime] bits0: usize,
    #[comptime] bits1: usize,
    #[comptime] inverse: bool,
    #[comptime] units: usize,
) {
    let t0 = comptime![1usize << bits0];
    let t1 = comptime![1usize << bits1];
    // Rows (points 1 apart, lines t1 apart), then columns (points t1 apart, lines 1 apart).
    butterflies::<F>(re, im, bits1, t0, t1, 1usize, inverse, units);
    butterflies::<F>(re, im, bits0, t1, 1usize, t1, inverse, units);
}

/// Which matrix entry of a spectrum `[2, groups, bins, rows, columns]` image `(i0, i1)`'s
/// tile `tile` (of `tiles` per image) is: images of the batch are rows and channels columns
/// (`x`, `dy` and results of their shape), or output channels rows and input channels columns
/// (the weight and its gradient).
#[cube]
fn matrix_entry(
    i0: usize,
    i1: usize,
    tile: usize,
    tiles: usize,
    per_group: usize,
    #[comptime] weight: bool,
) -> (usize, usize, usize) {
    if weight {
        (i0 / per_group, i0 % per_group, i1)
    } else {
        (i1 / per_group, i0 * tiles + tile, i1 % per_group)
    }
}

/// The sample of a source axis that point `q` of tile `t` holds, if any: the tile starts at
/// `t * step - offset` of the source spread by `spread` (one sample every `spread` points),
/// and holds `window` points.
#[cube]
fn source_index(
    t: usize,
    q: usize,
    step: usize,
    offset: usize,
    spread: usize,
    window: usize,
    len: usize,
) -> (bool, usize) {
    let position = t * step + q;
    let mut inside = false;
    let mut index = 0usize;
    if q < window && position >= offset {
        let spread_index = position - offset;
        // A spread of 1 (no stride or dilation on this axis) is the common case: no
        // division for it.
        if spread == 1 {
            index = spread_index;
            inside = index < len;
        } else {
            index = spread_index / spread;
            inside = spread_index % spread == 0 && index < len;
        }
    }
    (inside, index)
}

/// One cube per tile of one image of `source` `[d0, d1, s0, s1]`: gathers the tile,
/// transforms it and writes its half spectrum into `spectrum` `[groups, bins, rows, 2,
/// columns]`.
#[cube(launch)]
fn tile_spectrum<F: Float>(
    source: &Tensor<F>,
    spectrum: &mut Tensor<F>,
    axis0: TileAxisArgs,
    axis1: TileAxisArgs,
    per_group: usize,
    #[comptime] bits0: usize,
    #[comptime] bits1: usize,
    #[comptime] weight: bool,
    #[comptime] scaled: bool,
    #[comptime] units: usize,
    #[define(F)] _dtype: ElemType,
) {
    let t0_len = comptime![1usize << bits0];
    let t1_len = comptime![1usize << bits1];
    let points = comptime![(1usize << bits0) * (1usize << bits1)];
    let half1 = comptime![(1usize << bits1) / 2 + 1];
    // Data spectra carry `1 / points`, as on the CPU: no bin exceeds the largest value.
    let mut factor = F::new(1.0);
    if scaled {
        factor = F::new(1.0) / F::cast_from(points);
    }
    let tiles = axis0.count * axis1.count;
    let cube = CUBE_POS;
    if cube >= source.shape(0) * source.shape(1) * tiles {
        terminate!();
    }
    // Neighbouring cubes take neighbouring channels: their spectra are neighbours.
    let i1 = cube % source.shape(1);
    let tile = (cube / source.shape(1)) % tiles;
    let i0 = cube / (source.shape(1) * tiles);
    let (t0, t1) = (tile / axis1.count, tile % axis1.count);
    let base = i0 * source.stride(0) + i1 * source.stride(1);

    let mut re = Shared::<[F]>::new_slice(points);
    let mut im = Shared::<[F]>::new_slice(points);
    let mut e = UNIT_POS as usize;
    while e < points {
        let (q0, q1) = (e / t1_len, e % t1_len);
        let (in0, s0) = source_index(
            t0,
            q0,
            axis0.step,
            axis0.offset,
            axis0.spread,
            axis0.window,
            source.shape(2),
        );
        let (in1, s1) = source_index(
            t1,
            q1,
            axis1.step,
            axis1.offset,
            axis1.spread,
            axis1.window,
            source.shape(3),
        );
        let mut value = F::new(0.0);
        if in0 && in1 {
            value = source[base + s0 * source.stride(2) + s1 * source.stride(3)] * factor;
        }
        let at = bit_reverse(q0, bits0) * t1_len + bit_reverse(q1, bits1);
        re[at] = value;
        im[at] = F::new(0.0);
        e += units;
    }
    sync_cube();
    transform::<F>(&mut re, &mut im, bits0, bits1, false, units);

    let (group, row, column) = matrix_entry(i0, i1, tile, tiles, per_group, weight);
    let entry = group * spectrum.stride(0) + row * spectrum.stride(2) + column * spectrum.stride(4);
    let mut bin = UNIT_POS as usize;
    while bin < t0_len * half1 {
        let at = (bin / half1) * t1_len + bin % half1;
        let index = entry + bin * spectrum.stride(1);
        let imaginary = index + spectrum.stride(3);
        spectrum[index] = re[at];
        spectrum[imaginary] = im[at];
        bin += units;
    }
}

/// One cube per tile of one result image: the tile's spectrum from the half spectra `z`
/// (`[groups, bins, rows, 2, columns]`), transformed back (unnormalized). Tiles that do not
/// overlap (`y`, `dw`) go straight to their values of `out` `[d0, d1, o0, o1]` as
/// [`assemble`] places them; overlapping ones (`dx`) to `out` `[d0, count0, count1, d1, t0,
/// t1]`, for [`assemble`] to add up.
#[cube(launch)]
fn tile_inverse<F: Float>(
    z: &Tensor<F>,
    out: &mut Tensor<F>,
    axis0: TileAxisArgs,
    axis1: TileAxisArgs,
    images1: usize,
    per_group: usize,
    #[comptime] bits0: usize,
    #[comptime] bits1: usize,
    #[comptime] weight: bool,
    #[comptime] overlap: bool,
    #[comptime] units: usize,
    #[define(F)] _dtype: ElemType,
) {
    let t0_len = comptime![1usize << bits0];
    let t1_len = comptime![1usize << bits1];
    let points = comptime![(1usize << bits0) * (1usize << bits1)];
    let half1 = comptime![(1usize << bits1) / 2 + 1];
    let tiles = axis0.count * axis1.count;
    let cube = CUBE_POS;
    if cube >= out.shape(0) * tiles * images1 {
        terminate!();
    }
    let i1 = cube % images1;
    let tile = (cube / images1) % tiles;
    let i0 = cube / (images1 * tiles);
    let (group, row, column) = matrix_entry(i0, i1, tile, tiles, per_group, weight);
    let entry = group * z.stride(0) + row * z.stride(2) + column * z.stride(4);

    let mut re = Shared::<[F]>::new_slice(points);
    let mut im = Shared::<[F]>::new_slice(points);
    let mut e = UNIT_POS as usize;
    while e < points {
        let (k0, k1) = (e / t1_len, e % t1_len);
        // Bins past the half are the conjugates of their mirror images.
        let mirrored = k1 >= half1;
        let (m0, m1) = ((t0_len - k0) % t0_len, t1_len - k1);
        let bin = select(mirrored, m0 * half1 + m1, k0 * half1 + k1);
        let index = entry + bin * z.stride(1);
        let sign = select(mirrored, F::new(-1.0), F::new(1.0));
        let at = bit_reverse(k0, bits0) * t1_len + bit_reverse(k1, bits1);
        re[at] = z[index];
        im[at] = sign * z[index + z.stride(3)];
        e += units;
    }
    sync_cube();
    transform::<F>(&mut re, &mut im, bits0, bits1, true, units);

    let mut e = UNIT_POS as usize;
    if overlap {
        while e < points {
            out[cube * points + e] = re[e];
            e += units;
        }
    } else {
        // The weight gradient's spectra carry `1 / points` twice, the others once.
        let mut factor = F::new(1.0);
        if weight {
            factor = F::cast_from(points);
        }
        let (t0, t1) = (tile / axis1.count, tile % axis1.count);
        let base = i0 * out.stride(0) + i1 * out.stride(1);
        while e < points {
            let (q0, q1) = (e / t1_len, e % t1_len);
            let (in0, o0) = source_index(
                t0,
                q0,
                axis0.step,
                axis0.offset,
                axis0.spread,
                axis0.window,
                out.shape(2),
            );
            let (in1, o1) = source_index(
                t1,
                q1,
                axis1.step,
                axis1.offset,
                axis1.spread,
                axis1.window,
                out.shape(3),
            );
            let at = base + o0 * out.stride(2) + o1 * out.stride(3);
            if in0 && in1 {
                out[at] = re[e] * factor;
            }
            e += units;
        }
    }
}

/// One unit per value of `out` `[d0, d1, o0, o1]`: the sum of the points of `tiles` `[d0,
/// count0, count1, d1, t0, t1]` that fall on it, value `o` lying at stride-1 position `o *
/// spread + offset`.
#[cube(launch)]
fn assemble<F: Float>(
    tiles: &Tensor<F>,
    out: &mut Tensor<F>,
    axis0: TileAxisArgs,
    axis1: TileAxisArgs,
    #[comptime] bits0: usize,
    #[comptime] bits1: usize,
    #[define(F)] _dtype: ElemType,
) {
    let t1_len = comptime![1usize << bits1];
    let points = comptime![(1usize << bits0) * (1usize << bits1)];
    if ABSOLUTE_POS >= out.len() {
        terminate!();
    }
    let (o0_len, o1_len) = (out.shape(2), out.shape(3));
    let o1 = ABSOLUTE_POS % o1_len;
    let o0 = (ABSOLUTE_POS / o1_len) % o0_len;
    let image = ABSOLUTE_POS / (o1_len * o0_len);
    let (i0, i1) = (image / out.shape(1), image % out.shape(1));
    let (count0, count1) = (axis0.count, axis1.count);
    let v0 = o0 * axis0.spread + axis0.offset;
    let v1 = o1 * axis1.spread + axis1.offset;
    let (first0, last0) = covering_tiles(v0, axis0.step, axis0.window, count0);
    let (first1, last1) = covering_tiles(v1, axis1.step, axis1.window, count1);
    let mut sum = F::new(0.0);
    for t0 in first0..last0 {
        for t1 in first1..last1 {
            let q0 = v0 - t0 * axis0.step;
            let q1 = v1 - t1 * axis1.step;
            let tile = ((i0 * count0 + t0) * count1 + t1) * out.shape(1) + i1;
            sum += tiles[tile * points + q0 * t1_len + q1];
        }
    }
    out[ABSOLUTE_POS] = sum;
}

/// The tiles `first..last` whose `window` points from `t * step` hold stride-1 position `v`.
#[cube]
fn covering_tiles(v: usize, step: usize, window: usize, count: usize) -> (usize, usize) {
    let mut first = 0usize;
    if v >= window {
        first = (v - window) / step + 1;
    }
    let after = v / step + 1;
    let last = select(after < count, after, count);
    (first, last)
}

/// One axis of a tile launch: tile origins `step` apart (`count` tiles), `window` points of
/// each tile used, source samples `spread` points apart from `-offset`.
#[derive(CubeType, CubeLaunch)]
struct TileAxisArgs {
    step: usize,
    count: usize,
    window: usize,
    spread: usize,
    offset: usize,
}

/// The spectrum of `tensor`, the `kind` operand of `geometry`, over `tiles`: `[2, groups,
/// bins, rows, columns]` ([`DeviceTiling::spectrum_shape`]).
pub(crate) fn spectrum(
    tensor: CubeTensor,
    kind: SpectrumKind,
    geometry: &ConvGeometry,
    tiles: &[AxisTiles; 2],
) -> CubeTensor {
    let shape = DeviceTiling::Tiles(*tiles).spectrum_shape(&kind, geometry);
    let source = into_contiguous(as_maps(tensor));
    let (client, dtype) = (source.client.clone(), source.dtype);
    let spectrum =
        empty_device_contiguous_dtype(client.clone(), source.device.clone(), shape, dtype);
    let axes = axes2(geometry);
    let args = |index: usize| {
        let (tile, axis) = (&tiles[index], axes[index]);
        let Some(axis) = axis else {
            return axis_args(tile, 1, 1, 1, 0);
        };
        match kind {
            SpectrumKind::Input => axis_args(tile, tile.count, tile.tile, 1, axis.pad_begin()),
            SpectrumKind::Weight => axis_args(tile, 1, axis.dilated_kernel(), axis.dilation(), 0),
            SpectrumKind::OutputGrad => axis_args(tile, tile.count, tile.step, axis.stride(), 0),
        }
    };
    let per_group = match kind {
        SpectrumKind::Input => geometry.in_channels(),
        SpectrumKind::Weight | SpectrumKind::OutputGrad => geometry.out_channels(),
    } / geometry.groups();
    let weight = kind == SpectrumKind::Weight;
    let tile_count = if weight {
        1
    } else {
        tiles[0].count * tiles[1].count
    };
    let cube_count = source.meta.shape()[0] * source.meta.shape()[1] * tile_count;
    let units = units_for(tiles[0].tile * tiles[1].tile);
    if cube_count > 0 {
        tile_spectrum::launch(
            &client,
            cubecl::calculate_cube_count_elemwise(&client, cube_count, CubeDim::new_single()),
            CubeDim::new_1d(units as u32),
            source.into_tensor_arg(),
            spectrum.clone().into_tensor_arg(),
            args(0),
            args(1),
            per_group,
            bits(tiles[0].tile),
            bits(tiles[1].tile),
            weight,
            !weight,
            units,
            element(dtype),
        );
    }
    spectrum
}

/// The result of `pass` from the contracted spectra `z` (`[groups, bins, rows, 2, columns]`,
/// [`contract`]) over `tiles`.
pub(crate) fn inverse(
    z: CubeTensor,
    pass: ConvPass,
    geometry: &ConvGeometry,
    tiles: &[AxisTiles; 2],
) -> CubeTensor {
    let z = into_contiguous(z);
    let (client, device, dtype) = (z.client.clone(), z.device.clone(), z.dtype);
    let result_shape = pass.result_shape(geometry);
    let axes = axes2(geometry);
    let weight = pass == ConvPass::WeightGrad;
    let counts = tiles.map(|t| if weight { 1 } else { t.count });
    let images = [result_shape[0], result_shape[1]];
    let sizes = tiles.map(|t| t.tile);
    // Where each result value lies on the stride-1 grid of the tiles, per axis.
    let placement = |index: usize| -> (usize, TileAxisArgsLaunch) {
        let tile = &tiles[index];
        let Some(axis) = axes[index] else {
            return (1, axis_args(tile, 1, 1, 1, 0));
        };
        match pass {
            ConvPass::Forward => (
                axis.output(),
                axis_args(tile, tile.count, tile.step, axis.stride(), 0),
            ),
            ConvPass::InputGrad => (
                axis.input(),
                axis_args(tile, tile.count, tile.tile, 1, axis.pad_begin()),
            ),
            ConvPass::WeightGrad => (
                axis.kernel(),
                axis_args(tile, 1, tile.tile, axis.dilation(), 0),
            ),
        }
    };
    let lens = [placement(0).0, placement(1).0];
    let empty = |shape: Vec<usize>| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), Shape::from(shape), dtype)
    };
    let out = empty(vec![images[0], images[1], lens[0], lens[1]]);
    // The input gradient's tiles overlap: they are added up in a second launch.
    let overlap = pass == ConvPass::InputGrad;
    let tile_out = if overlap {
        empty(vec![
            images[0], counts[0], counts[1], images[1], sizes[0], sizes[1],
        ])
    } else {
        out.clone()
    };
    let per_group = match pass {
        ConvPass::InputGrad => geometry.in_channels(),
        ConvPass::Forward | ConvPass::WeightGrad => geometry.out_channels(),
    } / geometry.groups();
    let cube_count = images[0] * images[1] * counts[0] * counts[1];
    let units = units_for(sizes[0] * sizes[1]);
    if cube_count > 0 {
        tile_inverse::launch(
            &client,
            cubecl::calculate_cube_count_elemwise(&client, cube_count, CubeDim::new_single()),
            CubeDim::new_1d(units as u32),
            z.into_tensor_arg(),
            tile_out.clone().into_tensor_arg(),
            placement(0).1,
            placement(1).1,
            images[1],
            per_group,
            bits(sizes[0]),
            bits(sizes[1]),
            weight,
            overlap,
            units,
            element(dtype),
        );
    }
    let values = out.meta.num_elements();
    if overlap && values > 0 {
        let cube_dim = CubeDim::new(&client, values);
        assemble::launch(
            &client,
            cubecl::calculate_cube_count_elemwise(&client, values, cube_dim),
            cube_dim,
            tile_out.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            placement(0).1,
            placement(1).1,
            bits(sizes[0]),
            bits(sizes[1]),
            element(dtype),
        );
    }
    CubeBackend::float_reshape(out, Shape::from(result_shape))
}

/// The per-bin channel contraction of `pass` on the spectra `lhs` and `rhs` (in the order of
/// [`ConvPass::operands`], `[groups, bins, rows, 2, columns]`), as one real batched matrix
/// product: a row of real parts then imaginary parts times the real form `[[A, B], [-B, A]]`
/// of the complex matrix `A + iB` is the row of the complex product. The weight gradient
/// multiplies the two data spectra, whose four real products come out of one matrix product
/// and are combined after it, at the weight's size.
pub(crate) fn contract(lhs: CubeTensor, rhs: CubeTensor, pass: ConvPass) -> CubeTensor {
    type B = CubeBackend;
    let as_rows = |t: CubeTensor| {
        let [g, bins, rows, two, columns] = dims(&t);
        B::float_reshape(t, Shape::from([g, bins, rows, two * columns]))
    };
    // The real and imaginary parts of a spectrum, `[groups, bins, rows, columns]` each.
    let parts = |t: &CubeTensor| {
        let [g, bins, rows, _, columns] = dims(t);
        let part = |index: usize| {
            let slices = [0..g, 0..bins, 0..rows, index..index + 1, 0..columns].map(Slice::from);
            B::float_reshape(
                B::float_slice(t.clone(), &slices),
                Shape::from([g, bins, rows, columns]),
            )
        };
        (part(0), part(1))
    };
    // `[[a, b], [c, d]]` from four `[groups, bins, p, q]` blocks.
    let blocks = |[a, b, c, d]: [CubeTensor; 4]| {
        B::float_cat(
            vec![B::float_cat(vec![a, b], 3), B::float_cat(vec![c, d], 3)],
            2,
        )
    };
    let transpose = |t: CubeTensor| B::float_swap_dims(t, 2, 3);
    let [g, bins, rows, _, _] = dims(&lhs);
    match pass {
        ConvPass::Forward => {
            // Y = X conj(W)^T: A = Wr^T, B = -Wi^T.
            let (w_re, w_im) = parts(&rhs);
            let (a, b) = (transpose(w_re), transpose(w_im));
            let real_form = blocks([a.clone(), B::float_neg(b.clone()), b, a]);
            let y = B::float_matmul(as_rows(lhs), real_form);
            B::float_reshape(y, Shape::from([g, bins, rows, 2, dims(&rhs)[2]]))
        }
        ConvPass::InputGrad => {
            // dX = dY W: A = Wr, B = Wi.
            let (a, b) = parts(&rhs);
            let real_form = blocks([a.clone(), b.clone(), B::float_neg(b), a]);
            let dx = B::float_matmul(as_rows(lhs), real_form);
            B::float_reshape(dx, Shape::from([g, bins, rows, 2, dims(&rhs)[4]]))
        }
        ConvPass::WeightGrad => {
            // dW = conj(dY)^T X = (Pr Xr + Pi Xi) + i (Pr Xi - Pi Xr), P = dY^T, from the
            // blocks [[Pr Xr, Pr Xi], [Pi Xr, Pi Xi]] of one product.
            let [_, _, _, _, out_channels] = dims(&lhs);
            let in_channels = dims(&rhs)[4];
            let products = B::float_matmul(transpose(as_rows(lhs)), as_rows(rhs));
            let block = |row: usize, column: usize| {
                let slices = [
                    0..g,
                    0..bins,
                    row * out_channels..(row + 1) * out_channels,
                    column * in_channels..(column + 1) * in_channels,
                ]
                .map(Slice::from);
                B::float_slice(products.clone(), &slices)
            };
            let re = B::float_add(block(0, 0), block(1, 1));
            let im = B::float_sub(block(0, 1), block(1, 0));
            let part = |t: CubeTensor| {
                B::float_reshape(t, Shape::from([g, bins, out_channels, 1, in_channels]))
            };
            B::float_cat(vec![part(re), part(im)], 3)
        }
    }
}

/// The five dimensions of a spectrum.
fn dims(t: &CubeTensor) -> [usize; 5] {
    let shape = t.shape();
    [shape[0], shape[1], shape[2], shape[3], shape[4]]
}

/// The launch arguments of one axis: `count` tiles `tiles.step` apart, `window` points of
/// each used, source samples `spread` points apart from `-offset`.
fn axis_args(
    tiles: &AxisTiles,
    count: usize,
    window: usize,
    spread: usize,
    offset: usize,
) -> TileAxisArgsLaunch {
    TileAxisArgsLaunch::new(tiles.step, count, window, spread, offset)
}

/// `log2(size)` of a power of two.
fn bits(size: usize) -> usize {
    debug_assert!(size.is_power_of_two());
    size.trailing_zeros() as usize
}

/// The cubecl element type of a float dtype the tile kernels run in (f32 or f64).
fn element(dtype: DType) -> ElemType {
    match dtype {
        DType::F32 | DType::F64 => burn::backend::cubecl::dtype_to_storage_type(dtype),
        other => panic!(
            "FFT convolution on CubeCL devices runs in f32 or f64, not {other:?} (burn's device FFT has the same limit)"
        ),
    }
}

/// `tensor` with its spatial axes as two (a unit height before a 1-D axis).
fn as_maps(tensor: CubeTensor) -> CubeTensor {
    let shape = tensor.shape();
    if shape.num_dims() == 4 {
        return tensor;
    }
    CubeBackend::float_reshape(tensor, Shape::from([shape[0], shape[1], 1, shape[2]]))
}

/// The two axes of `geometry` as the tile kernels see them (no height for 1-D).
fn axes2(geometry: &ConvGeometry) -> [Option<AxisGeometry>; 2] {
    match geometry.axes() {
        [height, width] => [Some(*height), Some(*width)],
        [width] => [None, Some(*width)],
        _ => unreachable!("the tile kernels run 1-D and 2-D geometries"),
    }
}
