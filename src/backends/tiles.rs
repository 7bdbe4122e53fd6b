//! The tile kernels of the CubeCL backends: overlap-save convolution over small tiles (three
//! axes; a 1-D or 2-D geometry's leading axes have one point) whose FFTs run in shared
//! memory, one cube per tile of up to eight neighbouring channels (or polyphase components)
//! of one image.
//!
//! - [`spectrum`]: one launch gathers each tile (zero padding, the polyphase components, the
//!   weight's dilation), transforms it and writes its half spectrum straight into the
//!   bin-major matrices of the channel contraction.
//! - [`contract`]: the channel contraction of each bin, one real batched matmul per pass.
//! - [`inverse`]: one launch rebuilds each result tile's full spectrum from its half
//!   (Hermitian symmetry), transforms it back and writes the values it holds where they belong
//!   (`y`, `dw`); the input gradient's tiles overlap, and a second launch, one unit per value,
//!   adds up the tiles that cover each.
//!
//! Every axis is a stride-1 correlation of polyphase components (see `docs/correctness.md`
//! and [`AxisSplit`]):
//!
//! - with stride `s`, column component `j` of the padded input holds its samples `u s + r_j`,
//!   where `r_j = j dilation mod s`, and component `j` of the weight the taps whose dilated
//!   offset is `r_j` modulo `s`, at that offset over `s` (`phase_kernel` points). The output
//!   is the sum of the components' correlations, so they are columns of the channel
//!   contraction, `phase_count` per input channel, next to each other;
//! - without stride, with dilation `d`, row component `b` of the output holds its values
//!   `a d + b`, the correlation of the dense kernel with the input's samples `u d + b`: the
//!   components are images of their own, rows of the contraction;
//! - an axis with neither has one component, its padded input and kernel.
//!
//! Tile `t` of an axis starts at output `t * step`: an input tile holds a component from
//! there (`tile` samples), an output-gradient tile the `step` gradients from there, followed
//! by zeros, and the weight tile a component of the kernel. So the forward tile's first `step`
//! values are the correlation's (overlap-save), the input gradient's tiles overlap by `tile -
//! step` (overlap-add), and the weight gradient's single tile sums every tile's correlation
//! without wrapping.
// The launch functions that `#[cube(launch)]` generates take every argument, and `#[cube]`
// code has the remainder operator, not `is_multiple_of`.
#![allow(clippy::too_many_arguments, clippy::manual_is_multiple_of)]

use burn::backend::TensorMetadata;
use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::{DType, Shape};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use cubecl::prelude::*;
use fftconv_kernels::{AxisGeometry, ConvGeometry, SpectrumKind};

use crate::layout::{AxisSplit, AxisTiles, DeviceTiling, in_columns, phase_count};
use crate::ops::ConvPass;

/// Units per cube of the tile kernels for tiles of `points`: one radix-2 butterfly each per
/// stage, within bounds (a power of two from 32, so a multiple of any lane count).
fn units_for(points: usize) -> usize {
    (points / 2).clamp(32, 256)
}

/// Shared memory every device offers a cube: WebGPU's least. Tiles are sized so that one
/// lane of f32 fits it (`MAX_TILE_POINTS` in `layout.rs`). The tile kernels fill this much
/// by default, whatever more the device offers: on an H200 the device's 48 KiB (four lanes of
/// 32x32 tiles instead of two) made 64x64 k7 and 128x128 k5/k7 training steps 28%-38% slower
/// (`docs/performance.md`, "H200").
const LEAST_SHARED_BYTES: usize = 16 * 1024;

/// The environment variable that sets the shared memory the tile kernels fill per cube, in
/// bytes, up to the device's limit: more or fewer lanes per cube, to measure what lanes buy.
const SHARED_BYTES_VARIABLE: &str = "FFTCONV_GPU_SHARED_BYTES";

/// Shared memory a cube of the tile kernels may fill on `client`'s device:
/// [`LEAST_SHARED_BYTES`], or what [`SHARED_BYTES_VARIABLE`] says, within the device's limit
/// (read once; panics, naming it, when it is not a whole number of at least 1).
fn shared_bytes(client: &cubecl::client::Client) -> usize {
    static SETTING: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let setting = *SETTING.get_or_init(|| match std::env::var(SHARED_BYTES_VARIABLE) {
        Ok(text) => {
            parse_shared_bytes(&text).unwrap_or_else(|e| panic!("{SHARED_BYTES_VARIABLE}: {e}"))
        }
        Err(_) => LEAST_SHARED_BYTES,
    });
    setting.min(client.properties().hardware.max_shared_memory_size)
}

/// The value of [`SHARED_BYTES_VARIABLE`]: a whole number of bytes, at least 1 (below one
/// lane's tile the kernels still take one lane).
fn parse_shared_bytes(text: &str) -> Result<usize, String> {
    text.trim()
        .parse()
        .ok()
        .filter(|bytes| *bytes >= 1)
        .ok_or_else(|| format!("expected a whole number of bytes, at least 1, got {text:?}"))
}

/// The largest number of channels a cube transforms together, 8: a run of neighbouring
/// matrix columns then fills a 32-byte memory sector in f32.
const MAX_LANES: usize = 8;

/// Channels (lanes) per cube of the tile kernels for tiles of `points` in `dtype`, out of
/// `channels`, on a device that offers a cube `shared_bytes`: a power of two, as many as fit
/// (one at least) up to [`MAX_LANES`], and no more than the channels need. Lanes make the
/// spectra's reads and writes runs of neighbouring columns instead of values a matrix row
/// apart, share each butterfly's turn, and divide the cubes of a launch.
fn lanes_for(points: usize, channels: usize, dtype: DType, shared_bytes: usize) -> usize {
    let fit = shared_bytes / (2 * points * dtype.size());
    let lanes = fit.min(MAX_LANES).min(channels.next_power_of_two()).max(1);
    let lanes = 1 << lanes.ilog2();
    // The kernels keep each unit on one lane.
    debug_assert!(units_for(points).is_multiple_of(lanes));
    lanes
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

/// Where work item `b` of a pass over groups of `2^radix_bits` points `2^stage` apart starts
/// along `axis` (see [`butterflies`]): its first point, and its offset in its group.
/// Consecutive items take neighbouring shared-memory words: items of one line where its
/// points are adjacent, else the same item of adjacent lines.
#[cube]
fn pass_item(
    b: usize,
    stage: usize,
    #[comptime] radix_bits: usize,
    #[comptime] axis: [usize; 5],
) -> (usize, usize) {
    let bits = comptime![axis[0]];
    let lines = comptime![axis[1]];
    let inner = comptime![axis[2]];
    let outer_step = comptime![axis[3]];
    let point_step = comptime![axis[4]];
    let per_line = comptime![((1usize << bits) >> radix_bits).max(1)];
    let (line, j) = if comptime![point_step == 1] {
        (b / per_line, b % per_line)
    } else {
        (b % lines, b / lines)
    };
    let group = j >> stage;
    let offset = j & ((1usize << stage) - 1);
    let base = (line / inner) * outer_step + line % inner;
    (
        base + (((group << stage) << radix_bits) + offset) * point_step,
        offset,
    )
}

/// `2π` as three f32 parts whose sum is its f64 value: a kernel's float constants are f32.
const TAU_PARTS: [f32; 3] = [6.283_185_5, -1.748_455_5e-7, -7.105_427_4e-15];

/// The turn `(cos θ, sign sin θ)`, `θ = 2π offset / period`, for `offset < period / 2` and
/// `period` a power of two. `precise` (f64) computes it from power series of an angle reduced
/// to `[0, π/4]`, since SPIR-V defines its sine and cosine for 16- and 32-bit floats only: a
/// Vulkan driver (lavapipe) returned garbage for f64, and with it every f64 tile transform.
#[cube]
fn turn<F: Float>(offset: usize, period: usize, sign: F, #[comptime] precise: bool) -> (F, F) {
    if comptime![precise] {
        // `t = offset / period < 1/2`, exact; `2πt = π/2 + 2πu` from the second quadrant on,
        // and `2πu = π/2 - 2πv` from the second octant on.
        let t = F::cast_from(offset) / F::cast_from(period);
        let upper = t >= F::new(0.25);
        let u = select(upper, t - F::new(0.25), t);
        let folded = u > F::new(0.125);
        let v = select(folded, F::new(0.25) - u, u);
        let x = v * F::new(TAU_PARTS[0]) + v * F::new(TAU_PARTS[1]) + v * F::new(TAU_PARTS[2]);
        let x2 = x * x;
        // Horner forms of the series to `x^19` and `x^18`, whose next terms are below 1e-20
        // at `π/4`; the divisors are exact.
        let mut sin_x = F::new(1.0);
        let mut cos_x = F::new(1.0);
        let mut n = 9usize;
        while n > 0 {
            sin_x = F::new(1.0) - x2 * sin_x / F::cast_from((2 * n) * (2 * n + 1));
            cos_x = F::new(1.0) - x2 * cos_x / F::cast_from((2 * n - 1) * (2 * n));
            n -= 1;
        }
        sin_x *= x;
        let (cos_u, sin_u) = (select(folded, sin_x, cos_x), select(folded, cos_x, sin_x));
        (
            select(upper, -sin_u, cos_u),
            sign * select(upper, cos_u, sin_u),
        )
    } else {
        let angle = sign * F::new(TAU_PARTS[0]) / F::cast_from(period) * F::cast_from(offset);
        (angle.cos(), angle.sin())
    }
}

/// The complex product `a b`.
#[cube]
fn times<F: Float>(a: (F, F), b: (F, F)) -> (F, F) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// Writes the butterfly's `a + t` and `a - t` at `at.0` and `at.1`.
#[cube]
fn store_pair<F: Float>(
    re: &mut Shared<[F]>,
    im: &mut Shared<[F]>,
    at: (usize, usize),
    a: (F, F),
    t: (F, F),
) {
    re[at.0] = a.0 + t.0;
    im[at.0] = a.1 + t.1;
    re[at.1] = a.0 - t.0;
    im[at.1] = a.1 - t.1;
}

/// The butterflies of one axis of `lanes` bit-reversed tiles in shared memory, `points`
/// apart. The axis is `[bits, lines, inner, outer_step, point_step]`: `lines` transforms of
/// `2^bits` points per tile, point `p` of line `l` at `(l / inner) * outer_step + l % inner +
/// p * point_step`. `units` units; a unit computes each turn once for all the lanes.
///
/// Stages go in pairs (radix 4: four points in registers, two turns from one sine and
/// cosine, half the passes over shared memory and the synchronizations), and a last radix-2
/// stage where `bits` is odd.
#[cube]
fn butterflies<F: Float>(
    re: &mut Shared<[F]>,
    im: &mut Shared<[F]>,
    #[comptime] axis: [usize; 5],
    #[comptime] inverse: bool,
    #[comptime] units: usize,
    #[comptime] lanes: usize,
    #[comptime] points: usize,
    #[comptime] precise: bool,
) {
    let bits = comptime![axis[0]];
    let lines = comptime![axis[1]];
    let point_step = comptime![axis[4]];
    let quartets = comptime![lines * (1usize << bits) / 4];
    let pairs = comptime![lines * (1usize << bits) / 2];
    let sign = if inverse { F::new(1.0) } else { F::new(-1.0) };
    let mut stage = 0usize;
    while stage + 1 < bits {
        // Stages `stage` and `stage + 1` over points `first + k * half`, `k < 4`: the first
        // pairs 0 with 1 and 2 with 3 (turn `w^2`), the second 0 with 2 (turn `w`) and 1 with
        // 3 (turn `w` times `∓i`), where `w = exp(∓2πi offset / (4 half))`.
        let half = 1usize << stage;
        let mut b = UNIT_POS as usize;
        while b < quartets {
            let (first, offset) = pass_item(b, stage, 2usize, axis);
            let w = turn::<F>(offset, half << 2usize, sign, precise);
            let w2 = times::<F>(w, w);
            let d = half * point_step;
            #[unroll]
            for lane in 0..lanes {
                let p0 = first + lane * points;
                let (p1, p2, p3) = (p0 + d, p0 + 2 * d, p0 + 3 * d);
                let a0 = (re[p0], im[p0]);
                let a2 = (re[p2], im[p2]);
                let t1 = times::<F>(w2, (re[p1], im[p1]));
                let t3 = times::<F>(w2, (re[p3], im[p3]));
                let (b0, b1) = ((a0.0 + t1.0, a0.1 + t1.1), (a0.0 - t1.0, a0.1 - t1.1));
                let (b2, b3) = ((a2.0 + t3.0, a2.1 + t3.1), (a2.0 - t3.0, a2.1 - t3.1));
                let u2 = times::<F>(w, b2);
                let v = times::<F>(w, b3);
                // Times `∓i` (`sign` i).
                let u3 = (-sign * v.1, sign * v.0);
                store_pair::<F>(re, im, (p0, p2), b0, u2);
                store_pair::<F>(re, im, (p1, p3), b1, u3);
            }
            b += units;
        }
        sync_cube();
        stage += 2usize;
    }
    if stage < bits {
        let half = 1usize << stage;
        let mut b = UNIT_POS as usize;
        while b < pairs {
            let (first, offset) = pass_item(b, stage, 1usize, axis);
            let w = turn::<F>(offset, half << 1usize, sign, precise);
            #[unroll]
            for lane in 0..lanes {
                let p0 = first + lane * points;
                let p1 = p0 + half * point_step;
                let a = (re[p0], im[p0]);
                let t = times::<F>(w, (re[p1], im[p1]));
                store_pair::<F>(re, im, (p0, p1), a, t);
            }
            b += units;
        }
        sync_cube();
    }
}

/// The 3-D FFTs of `lanes` bit-reversed `[2^bits0, 2^bits1, 2^bits2]` tiles in shared
/// memory, one after the other, in place; unit axes cost nothing.
#[cube]
fn transform<F: Float>(
    re: &mut Shared<[F]>,
    im: &mut Shared<[F]>,
    #[comptime] bits: [usize; 3],
    #[comptime] inverse: bool,
    #[comptime] units: usize,
    #[comptime] lanes: usize,
    #[comptime] precise: bool,
) {
    let t0 = comptime![1usize << bits[0]];
    let t1 = comptime![1usize << bits[1]];
    let t2 = comptime![1usize << bits[2]];
    let n = comptime![t0 * t1 * t2];
    // Rows (points adjacent), then columns (points a row apart), then depth (a plane apart).
    let rows = comptime![[bits[2], t0 * t1, 1, t2, 1]];
    let columns = comptime![[bits[1], t0 * t2, t2, t1 * t2, t2]];
    let depth = comptime![[bits[0], t1 * t2, t1 * t2, 1, t1 * t2]];
    butterflies::<F>(re, im, rows, inverse, units, lanes, n, precise);
    butterflies::<F>(re, im, columns, inverse, units, lanes, n, precise);
    butterflies::<F>(re, im, depth, inverse, units, lanes, n, precise);
}

/// Where image `(i0, i1)`'s tile `tile` (of `tiles` per image) lies in a spectrum at bin 0.
/// Its matrix entry: images of the batch are rows and channels columns (`x`, `dy` and results
/// of their shape), or output channels rows and input channels columns (the weight and its
/// gradient). The layout: `[groups, bins, rows, 2, columns]`, or `[groups, bins, 2, rows, 2 *
/// columns]` for the weight's real form and the blocks of its gradient.
#[cube]
fn entry_offset<F: Float>(
    spectrum: &Tensor<F>,
    i0: usize,
    i1: usize,
    tile: usize,
    tiles: usize,
    per_group: usize,
    #[comptime] weight: bool,
) -> usize {
    let mut group = i1 / per_group;
    let mut row = i0 * tiles + tile;
    let mut column = i1 % per_group;
    let mut row_stride = spectrum.stride(2);
    if weight {
        group = i0 / per_group;
        row = i0 % per_group;
        column = i1;
        row_stride = spectrum.stride(3);
    }
    group * spectrum.stride(0) + row * row_stride + column * spectrum.stride(4)
}

/// The sample of a source axis that point `q` of tile `t` of polyphase component `phase`
/// holds, if any: the tile holds `window` points from `t * step` of the component, whose
/// point `u` lies at `u * scale + residue - offset` of the source spread by `spread` (one
/// sample every `spread` points), the component's residue being `phase * phase_spacing mod
/// scale`.
#[cube]
fn source_index(
    t: usize,
    q: usize,
    phase: usize,
    axis: &TileAxisArgs,
    len: usize,
) -> (bool, usize) {
    let mut position = t * axis.step + q;
    // Axes without stride (a scale of 1, one component) are the common case: no remainder.
    if axis.scale > 1 {
        position = position * axis.scale + (phase * axis.phase_spacing) % axis.scale;
    }
    let mut inside = false;
    let mut index = 0usize;
    if q < axis.window && position >= axis.offset {
        let spread_index = position - axis.offset;
        // A spread of 1 (no stride or dilation on this axis) is the common case: no
        // division for it.
        if axis.spread == 1 {
            index = spread_index;
            inside = index < len;
        } else {
            index = spread_index / axis.spread;
            inside = spread_index % axis.spread == 0 && index < len;
        }
    }
    (inside, index)
}

/// Where point `point` of tile `tile` lies in the spatial axes of `tensor` `[d0, d1, s0, s1,
/// s2]` (an offset from its image's first value), if it lies there: the tile of column
/// component `phase` and of row components `rows` (an axis has one kind at most, so their
/// indices add up).
#[cube]
fn tile_sample<F: Float>(
    tensor: &Tensor<F>,
    tile: (usize, usize, usize),
    point: (usize, usize, usize),
    phase: usize,
    rows: (usize, usize, usize),
    axes: &TileAxes,
) -> (bool, usize) {
    let (t0, t1, t2) = tile;
    let (q0, q1, q2) = point;
    let (j0, j1, j2) = phase_indices(phase, axes);
    let (b0, b1, b2) = rows;
    let (in0, s0) = source_index(t0, q0, j0 + b0, &axes.depth, tensor.shape(2));
    let (in1, s1) = source_index(t1, q1, j1 + b1, &axes.height, tensor.shape(3));
    let (in2, s2) = source_index(t2, q2, j2 + b2, &axes.width, tensor.shape(4));
    let offset = s0 * tensor.stride(2) + s1 * tensor.stride(3) + s2 * tensor.stride(4);
    (in0 && in1 && in2, offset)
}

/// The polyphase components of a launch per channel: their product over the axes.
#[cube]
fn phases_of(axes: &TileAxes) -> usize {
    axes.depth.phases * axes.height.phases * axes.width.phases
}

/// Polyphase component `phase` of a channel as its three indices, one per axis.
#[cube]
fn phase_indices(phase: usize, axes: &TileAxes) -> (usize, usize, usize) {
    let (p1, p2) = (axes.height.phases, axes.width.phases);
    (phase / (p1 * p2), (phase / p2) % p1, phase % p2)
}

/// Tiles per image of a launch: the tiles of each row component.
#[cube]
fn tiles_of(axes: &TileAxes) -> usize {
    let counts = axes.depth.count * axes.height.count * axes.width.count;
    counts * axes.depth.rows * axes.height.rows * axes.width.rows
}

/// Tile `index` of an image (row components outermost) as its three tile indices and its
/// three row components.
#[cube]
fn tile_indices(index: usize, axes: &TileAxes) -> ((usize, usize, usize), (usize, usize, usize)) {
    let (c0, c1, c2) = (axes.depth.count, axes.height.count, axes.width.count);
    let (r1, r2) = (axes.height.rows, axes.width.rows);
    let row = index / (c0 * c1 * c2);
    (
        ((index / (c1 * c2)) % c0, (index / c2) % c1, index % c2),
        (row / (r1 * r2), (row / r2) % r1, row % r2),
    )
}

/// Point `e` of a tile of `[t0, t1, t2]` points as its three indices.
#[cube]
fn point_indices(e: usize, #[comptime] t1: usize, #[comptime] t2: usize) -> (usize, usize, usize) {
    (e / comptime![t1 * t2], (e / t2) % t1, e % t2)
}

/// Where point `(q0, q1, q2)` of a tile lies after bit reversal of each axis.
#[cube]
fn bit_reversed(q0: usize, q1: usize, q2: usize, #[comptime] bits: [usize; 3]) -> usize {
    let t1 = comptime![1usize << bits[1]];
    let t2 = comptime![1usize << bits[2]];
    (bit_reverse(q0, bits[0]) * t1 + bit_reverse(q1, bits[1])) * t2 + bit_reverse(q2, bits[2])
}

/// Which images of dimension 1 (channels) a cube of `lanes` lanes takes, and its tile and
/// image of dimension 0, from the cube's position: neighbouring cubes take neighbouring
/// channels, as lanes do, so that their spectra are neighbours.
#[cube]
fn cube_images(images1: usize, tiles: usize, #[comptime] lanes: usize) -> (usize, usize, usize) {
    let blocks = (images1 + comptime![lanes - 1]) / lanes;
    let cube = CUBE_POS;
    let first = (cube % blocks) * lanes;
    let tile = (cube / blocks) % tiles;
    (cube / (blocks * tiles), tile, first)
}

/// One cube per tile of `lanes` neighbouring columns (channels times their polyphase
/// components) of one image of `source` `[d0, d1, s0, s1, s2]`: gathers the tiles, transforms
/// them and writes their half spectra into `spectrum` `[groups, bins, rows, 2, columns]` (the
/// weight's real form `[groups, bins, 2, rows, 2 * columns]`), lanes innermost (neighbouring
/// columns of the matrices).
#[cube(launch)]
fn tile_spectrum<F: Float>(
    source: &Tensor<F>,
    spectrum: &mut Tensor<F>,
    axes: TileAxes,
    per_group: usize,
    #[comptime] bits: [usize; 3],
    #[comptime] weight: bool,
    #[comptime] scaled: bool,
    #[comptime] units: usize,
    #[comptime] lanes: usize,
    #[comptime] precise: bool,
    #[define(F)] _dtype: ElemType,
) {
    let t1_len = comptime![1usize << bits[1]];
    let t2_len = comptime![1usize << bits[2]];
    let points = comptime![1usize << (bits[0] + bits[1] + bits[2])];
    let half2 = comptime![(1usize << bits[2]) / 2 + 1];
    let bins = comptime![(1usize << (bits[0] + bits[1])) * ((1usize << bits[2]) / 2 + 1)];
    // Data spectra carry `1 / points`, as on the CPU: no bin exceeds the largest value.
    let mut factor = F::new(1.0);
    if scaled {
        factor = F::new(1.0) / F::cast_from(points);
    }
    let tiles = tiles_of(&axes);
    let phases = phases_of(&axes);
    let images1 = source.shape(1) * phases;
    if CUBE_POS >= source.shape(0) * tiles * ((images1 + comptime![lanes - 1]) / lanes) {
        terminate!();
    }
    let (i0, tile, first) = cube_images(images1, tiles, lanes);
    let (tile_at, rows_at) = tile_indices(tile, &axes);

    let mut re = Shared::<[F]>::new_slice(comptime![points * lanes]);
    let mut im = Shared::<[F]>::new_slice(comptime![points * lanes]);
    // Points innermost: neighbouring units read neighbouring samples.
    let mut e = UNIT_POS as usize;
    while e < comptime![points * lanes] {
        let (lane, point) = (e / points, e % points);
        let i1 = first + lane;
        let (q0, q1, q2) = point_indices(point, t1_len, t2_len);
        let (inside, offset) =
            tile_sample::<F>(source, tile_at, (q0, q1, q2), i1 % phases, rows_at, &axes);
        let mut value = F::new(0.0);
        if inside && i1 < images1 {
            let channel = i1 / phases;
            value = source[i0 * source.stride(0) + channel * source.stride(1) + offset] * factor;
        }
        let at = lane * points + bit_reversed(q0, q1, q2, bits);
        re[at] = value;
        im[at] = F::new(0.0);
        e += units;
    }
    sync_cube();
    transform::<F>(&mut re, &mut im, bits, false, units, lanes, precise);

    // Lanes innermost: neighbouring units write neighbouring columns. A unit keeps its lane
    // (`units` is a multiple of `lanes`), so it finds its matrix entry once.
    let lane = UNIT_POS as usize % lanes;
    let i1 = first + lane;
    if i1 < images1 {
        let entry = entry_offset::<F>(&*spectrum, i0, i1, tile, tiles, per_group, weight);
        let mut bin = UNIT_POS as usize / lanes;
        while bin < bins {
            let index = entry + bin * spectrum.stride(1);
            let at = lane * points + (bin / half2) * t2_len + bin % half2;
            if weight {
                // The real form `[[A, B], [-B, A]]` (`[.., 2, rows, 2 * columns]`).
                let columns = spectrum.shape(4) / 2;
                let lower = index + spectrum.stride(2);
                let imaginary = index + columns * spectrum.stride(4);
                let lower_imaginary = lower + columns * spectrum.stride(4);
                spectrum[index] = re[at];
                spectrum[imaginary] = im[at];
                spectrum[lower] = -im[at];
                spectrum[lower_imaginary] = re[at];
            } else {
                let imaginary = index + spectrum.stride(3);
                spectrum[index] = re[at];
                spectrum[imaginary] = im[at];
            }
            bin += comptime![units / lanes];
        }
    }
}

/// One cube per tile of `lanes` neighbouring columns of the result (`images1` of them: its
/// images of dimension 1 times their polyphase components): the tiles' spectra from the half
/// spectra `z` (`[groups, bins, rows, 2, columns]`; for the weight gradient, the blocks of
/// [`contract`]'s product, `[groups, bins, 2, rows, 2 * columns]`), transformed back
/// (unnormalized). Tiles that do not overlap (`y`, `dw`) go straight to their values of `out`
/// `[d0, d1, o0, o1, o2]`; overlapping ones (`dx`) to `out` `[d0, count0, count1, count2,
/// images1, t0, t1, t2]`, for [`assemble`] to add up.
#[cube(launch)]
fn tile_inverse<F: Float>(
    z: &Tensor<F>,
    out: &mut Tensor<F>,
    axes: TileAxes,
    images1: usize,
    per_group: usize,
    #[comptime] bits: [usize; 3],
    #[comptime] weight: bool,
    #[comptime] overlap: bool,
    #[comptime] units: usize,
    #[comptime] lanes: usize,
    #[comptime] precise: bool,
    #[define(F)] _dtype: ElemType,
) {
    let t0_len = comptime![1usize << bits[0]];
    let t1_len = comptime![1usize << bits[1]];
    let t2_len = comptime![1usize << bits[2]];
    let points = comptime![1usize << (bits[0] + bits[1] + bits[2])];
    let half2 = comptime![(1usize << bits[2]) / 2 + 1];
    let tiles = tiles_of(&axes);
    let phases = phases_of(&axes);
    if CUBE_POS >= out.shape(0) * tiles * ((images1 + comptime![lanes - 1]) / lanes) {
        terminate!();
    }
    let (i0, tile, first) = cube_images(images1, tiles, lanes);

    let mut re = Shared::<[F]>::new_slice(comptime![points * lanes]);
    let mut im = Shared::<[F]>::new_slice(comptime![points * lanes]);
    // Lanes innermost: neighbouring units read neighbouring columns. A unit keeps its lane,
    // so it finds its matrix entry once.
    let lane = UNIT_POS as usize % lanes;
    let i1 = first + lane;
    let inside = i1 < images1;
    let mut entry = 0usize;
    if inside {
        entry = entry_offset::<F>(z, i0, i1, tile, tiles, per_group, weight);
    }
    let mut point = UNIT_POS as usize / lanes;
    while point < points {
        let (k0, k1, k2) = point_indices(point, t1_len, t2_len);
        // Bins past the half are the conjugates of their mirror images.
        let mirrored = k2 >= half2;
        let m0 = (t0_len - k0) % t0_len;
        let m1 = (t1_len - k1) % t1_len;
        let m2 = t2_len - k2;
        let bin = select(
            mirrored,
            (m0 * t1_len + m1) * half2 + m2,
            (k0 * t1_len + k1) * half2 + k2,
        );
        let mut value_re = F::new(0.0);
        let mut value_im = F::new(0.0);
        if inside {
            let index = entry + bin * z.stride(1);
            let sign = select(mirrored, F::new(-1.0), F::new(1.0));
            if weight {
                // The blocks `[[Pr Xr, Pr Xi], [Pi Xr, Pi Xi]]` (`[.., 2, rows, 2 * columns]`)
                // of the weight gradient's product: `(Pr Xr + Pi Xi) + i (Pr Xi - Pi Xr)`.
                let columns = z.shape(4) / 2;
                let lower = index + z.stride(2);
                value_re = z[index] + z[lower + columns * z.stride(4)];
                value_im = sign * (z[index + columns * z.stride(4)] - z[lower]);
            } else {
                value_re = z[index];
                value_im = sign * z[index + z.stride(3)];
            }
        }
        let at = lane * points + bit_reversed(k0, k1, k2, bits);
        re[at] = value_re;
        im[at] = value_im;
        point += comptime![units / lanes];
    }
    sync_cube();
    transform::<F>(&mut re, &mut im, bits, true, units, lanes, precise);

    // Points innermost: neighbouring units write neighbouring values.
    let mut e = UNIT_POS as usize;
    if overlap {
        let tile_base = (i0 * tiles + tile) * images1;
        while e < comptime![points * lanes] {
            let (lane, point) = (e / points, e % points);
            let i1 = first + lane;
            if i1 < images1 {
                out[(tile_base + i1) * points + point] = re[e];
            }
            e += units;
        }
    } else {
        // The weight gradient's spectra carry `1 / points` twice, the others once.
        let mut factor = F::new(1.0);
        if weight {
            factor = F::cast_from(points);
        }
        let (tile_at, rows_at) = tile_indices(tile, &axes);
        while e < comptime![points * lanes] {
            let (lane, point) = (e / points, e % points);
            let i1 = first + lane;
            let (inside, offset) = tile_sample::<F>(
                &*out,
                tile_at,
                point_indices(point, t1_len, t2_len),
                i1 % phases,
                rows_at,
                &axes,
            );
            let at = i0 * out.stride(0) + (i1 / phases) * out.stride(1) + offset;
            if inside && i1 < images1 {
                out[at] = re[e] * factor;
            }
            e += units;
        }
    }
}

/// One unit per value of `out` `[d0, d1, o0, o1, o2]`: the sum of the points of `tiles` `[d0,
/// tiles, d1 * phases, t0, t1, t2]` (tiles as [`tile_indices`] orders them) that fall on it
/// (see [`component_point`]).
#[cube(launch)]
fn assemble<F: Float>(
    tiles: &Tensor<F>,
    out: &mut Tensor<F>,
    axes: TileAxes,
    #[comptime] bits: [usize; 3],
    #[define(F)] _dtype: ElemType,
) {
    let t1_len = comptime![1usize << bits[1]];
    let t2_len = comptime![1usize << bits[2]];
    let points = comptime![1usize << (bits[0] + bits[1] + bits[2])];
    if ABSOLUTE_POS >= out.len() {
        terminate!();
    }
    let (o0_len, o1_len, o2_len) = (out.shape(2), out.shape(3), out.shape(4));
    let o2 = ABSOLUTE_POS % o2_len;
    let o1 = (ABSOLUTE_POS / o2_len) % o1_len;
    let o0 = (ABSOLUTE_POS / (o2_len * o1_len)) % o0_len;
    let image = ABSOLUTE_POS / (o2_len * o1_len * o0_len);
    let (i0, i1) = (image / out.shape(1), image % out.shape(1));
    let (depth, height, width) = (&axes.depth, &axes.height, &axes.width);
    let (met0, v0, j0) = component_point(o0, depth);
    let (met1, v1, j1) = component_point(o1, height);
    let (met2, v2, j2) = component_point(o2, width);
    let (first0, last0) = covering_tiles(v0, depth);
    let (first1, last1) = covering_tiles(v1, height);
    let (first2, last2) = covering_tiles(v2, width);
    // A component is a row one on axes with row components, else a column one.
    let (c0, b0) = column_or_row(j0, depth);
    let (c1, b1) = column_or_row(j1, height);
    let (c2, b2) = column_or_row(j2, width);
    let phases = phases_of(&axes);
    let column = i1 * phases + (c0 * height.phases + c1) * width.phases + c2;
    let row = (b0 * height.rows + b1) * width.rows + b2;
    let (tiles_per_image, columns) = (tiles_of(&axes), out.shape(1) * phases);
    let mut sum = F::new(0.0);
    if met0 && met1 && met2 {
        for t0 in first0..last0 {
            for t1 in first1..last1 {
                for t2 in first2..last2 {
                    let q0 = v0 - t0 * depth.step;
                    let q1 = v1 - t1 * height.step;
                    let q2 = v2 - t2 * width.step;
                    let in_image =
                        ((row * depth.count + t0) * height.count + t1) * width.count + t2;
                    let tile = (i0 * tiles_per_image + in_image) * columns + column;
                    sum += tiles[tile * points + (q0 * t1_len + q1) * t2_len + q2];
                }
            }
        }
    }
    out[ABSOLUTE_POS] = sum;
}

/// Where value `o` of a result axis lies among the components (column or row ones) of
/// `axis`: whether a component holds it (its residue modulo `scale` is one that kernel taps
/// meet), its point in that component and the component. The value lies at `o + offset`
/// before splitting.
#[cube]
fn component_point(o: usize, axis: &TileAxisArgs) -> (bool, usize, usize) {
    let position = o + axis.offset;
    let mut met = true;
    let mut point = position;
    let mut component = 0usize;
    if axis.scale > 1 {
        let residue = position % axis.scale;
        point = position / axis.scale;
        met = false;
        for j in 0..axis.phases * axis.rows {
            if (j * axis.phase_spacing) % axis.scale == residue {
                met = true;
                component = j;
            }
        }
    }
    (met, point, component)
}

/// Component `j` of `axis` as a column component and a row component, one of them 0.
#[cube]
fn column_or_row(j: usize, axis: &TileAxisArgs) -> (usize, usize) {
    let row = axis.rows > 1;
    (select(row, 0usize, j), select(row, j, 0usize))
}

/// The tiles `first..last` of `axis` whose `window` points from `t * step` hold point `v`.
#[cube]
fn covering_tiles(v: usize, axis: &TileAxisArgs) -> (usize, usize) {
    let mut first = 0usize;
    if v >= axis.window {
        first = (v - axis.window) / axis.step + 1;
    }
    let after = v / axis.step + 1;
    let last = select(after < axis.count, after, axis.count);
    (first, last)
}

/// One axis of a tile launch: tile origins `step` apart (`count` tiles per row component),
/// `window` points of each tile used, `phases` column components per channel and `rows` row
/// components per image (one of them 1; component `j` meets the source at residue `j *
/// phase_spacing` modulo `scale`, and its point `u` at `u * scale` plus that residue), source
/// samples `spread` points apart from `-offset` (see [`source_index`]).
#[derive(CubeType, CubeLaunch)]
struct TileAxisArgs {
    step: usize,
    count: usize,
    window: usize,
    spread: usize,
    offset: usize,
    scale: usize,
    phases: usize,
    rows: usize,
    phase_spacing: usize,
}

/// The three axes of a tile launch.
#[derive(CubeType, CubeLaunch)]
struct TileAxes {
    depth: TileAxisArgs,
    height: TileAxisArgs,
    width: TileAxisArgs,
}

/// The spectrum of `tensor`, the `kind` operand of `geometry`, over `tiles`: `[groups, bins,
/// rows, 2, columns]` ([`DeviceTiling::spectrum_shape`]).
pub(crate) fn spectrum(
    tensor: CubeTensor,
    kind: SpectrumKind,
    geometry: &ConvGeometry,
    tiles: &[AxisTiles; 3],
) -> CubeTensor {
    let shape = DeviceTiling::Tiles(*tiles).spectrum_shape(&kind, geometry);
    let source = into_contiguous(as_volumes(tensor));
    let (client, dtype) = (source.client.clone(), source.dtype);
    let spectrum =
        empty_device_contiguous_dtype(client.clone(), source.device.clone(), shape, dtype);
    let (phases, per_group) = channel_columns(kind, geometry);
    let weight = kind == SpectrumKind::Weight;
    let tile_count = tiles_per_image(kind, tiles);
    let points = tiles.iter().map(|t| t.tile).product();
    let [images0, channels] = [0, 1].map(|dim| source.meta.shape()[dim]);
    let images1 = channels * phases;
    let lanes = lanes_for(points, images1, dtype, shared_bytes(&client));
    let cube_count = images0 * tile_count * images1.div_ceil(lanes);
    let units = units_for(points);
    if cube_count > 0 {
        tile_spectrum::launch(
            &client,
            cubecl::calculate_cube_count_elemwise(&client, cube_count, CubeDim::new_single()),
            CubeDim::new_1d(units as u32),
            source.into_tensor_arg(),
            spectrum.clone().into_tensor_arg(),
            tile_axes(kind, geometry, tiles),
            per_group,
            tiles.map(|t| bits(t.tile)),
            weight,
            !weight,
            units,
            lanes,
            dtype == DType::F64,
            element(dtype),
        );
    }
    spectrum
}

/// The result of `pass` from the contracted spectra `z` ([`contract`]) over `tiles`.
pub(crate) fn inverse(
    z: CubeTensor,
    pass: ConvPass,
    geometry: &ConvGeometry,
    tiles: &[AxisTiles; 3],
) -> CubeTensor {
    let z = into_contiguous(z);
    let (client, device, dtype) = (z.client.clone(), z.device.clone(), z.dtype);
    let result_shape = pass.result_shape(geometry);
    let kind = pass.result_kind();
    let weight = kind == SpectrumKind::Weight;
    let tile_count = tiles_per_image(kind, tiles);
    let (phases, per_group) = channel_columns(kind, geometry);
    let [images0, images1] = [result_shape[0], result_shape[1]];
    let columns = images1 * phases;
    let sizes = tiles.map(|t| t.tile);
    let empty = |shape: Vec<usize>| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), Shape::from(shape), dtype)
    };
    let out = empty(volume_shape(&result_shape));
    // The input gradient's tiles overlap: they are added up in a second launch.
    let overlap = pass == ConvPass::InputGrad;
    let tile_out = if overlap {
        let [s0, s1, s2] = sizes;
        empty(vec![images0, tile_count, columns, s0, s1, s2])
    } else {
        out.clone()
    };
    let points = sizes.iter().product();
    let lanes = lanes_for(points, columns, dtype, shared_bytes(&client));
    let cube_count = images0 * tile_count * columns.div_ceil(lanes);
    let units = units_for(points);
    if cube_count > 0 {
        tile_inverse::launch(
            &client,
            cubecl::calculate_cube_count_elemwise(&client, cube_count, CubeDim::new_single()),
            CubeDim::new_1d(units as u32),
            z.into_tensor_arg(),
            tile_out.clone().into_tensor_arg(),
            tile_axes(kind, geometry, tiles),
            columns,
            per_group,
            sizes.map(bits),
            weight,
            overlap,
            units,
            lanes,
            dtype == DType::F64,
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
            tile_axes(kind, geometry, tiles),
            sizes.map(bits),
            element(dtype),
        );
    }
    CubeBackend::float_reshape(out, Shape::from(result_shape))
}

/// The per-bin channel contraction of `pass` on the spectra `lhs` and `rhs` (in the order of
/// [`ConvPass::operands`], `[groups, bins, rows, 2, columns]`, the weight's real form
/// `[groups, bins, 2, rows, 2 * columns]`), as one real batched matrix product: a row of real
/// parts then imaginary parts times the real form `[[A, B], [-B, A]]` of the complex matrix
/// `A + iB` is the row of the complex product. The weight gradient multiplies the two data
/// spectra, whose four real products come out of one matrix product, `[groups, bins, 2,
/// rows, 2 * columns]`; [`inverse`] combines them.
pub(crate) fn contract(lhs: CubeTensor, rhs: CubeTensor, pass: ConvPass) -> CubeTensor {
    type B = CubeBackend;
    // `[groups, bins, rows, 2 * columns]`.
    let as_rows = |t: CubeTensor| {
        let [g, bins, rows, two, columns] = dims(&t);
        B::float_reshape(t, Shape::from([g, bins, rows, two * columns]))
    };
    // The weight's real form `[[Wr, Wi], [-Wi, Wr]]`, `[groups, bins, 2 * out, 2 * in]`.
    let real_form = |t: CubeTensor| {
        let [g, bins, two, rows, columns] = dims(&t);
        B::float_reshape(t, Shape::from([g, bins, two * rows, columns]))
    };
    let transpose = |t: CubeTensor| B::float_swap_dims(t, 2, 3);
    let [g, bins, rows, _, _] = dims(&lhs);
    match pass {
        ConvPass::Forward => {
            // Y = X conj(W)^T, whose real form `[[Wr^T, -Wi^T], [Wi^T, Wr^T]]` is the
            // transpose of W's.
            let out_channels = dims(&rhs)[3];
            let y = B::float_matmul(as_rows(lhs), transpose(real_form(rhs)));
            B::float_reshape(y, Shape::from([g, bins, rows, 2, out_channels]))
        }
        ConvPass::InputGrad => {
            // dX = dY W.
            let in_channels = dims(&rhs)[4] / 2;
            let dx = B::float_matmul(as_rows(lhs), real_form(rhs));
            B::float_reshape(dx, Shape::from([g, bins, rows, 2, in_channels]))
        }
        ConvPass::WeightGrad => {
            // dW = conj(dY)^T X = (Pr Xr + Pi Xi) + i (Pr Xi - Pi Xr), P = dY^T: the blocks
            // [[Pr Xr, Pr Xi], [Pi Xr, Pi Xi]] of one product, which [`inverse`] combines.
            let out_channels = dims(&lhs)[4];
            let products = B::float_matmul(transpose(as_rows(lhs)), as_rows(rhs));
            let columns = products.shape()[3];
            B::float_reshape(products, Shape::from([g, bins, 2, out_channels, columns]))
        }
    }
}

/// Where the values of the `kind` operand, or of the result in its role, lie in `tiles`: the
/// launch axes of its gathers and scatters.
fn tile_axes(
    kind: SpectrumKind,
    geometry: &ConvGeometry,
    tiles: &[AxisTiles; 3],
) -> TileAxesLaunch {
    let axes = axes3(geometry);
    let args = |index: usize| {
        let (tile, axis) = (&tiles[index], axes[index]);
        let Some(axis) = axis else {
            return axis_args(tile, 1, 1, 1, 0, Split::None);
        };
        let split = AxisSplit::of(&axis);
        match kind {
            SpectrumKind::Input => {
                let pad = axis.pad_begin();
                axis_args(tile, tile.count, tile.tile, 1, pad, Split::Both(split))
            }
            SpectrumKind::Weight => {
                let (window, spread) = (split.kernel, split.kernel_spread);
                axis_args(tile, 1, window, spread, 0, Split::Columns(split))
            }
            SpectrumKind::OutputGrad => {
                axis_args(tile, tile.count, tile.step, 1, 0, Split::Rows(split))
            }
        }
    };
    TileAxesLaunch::new(args(0), args(1), args(2))
}

/// The columns per channel of the `kind` operand (the polyphase components of the input's and
/// the weight's channels; one for `dy`), and the matrix entries per group that its images of
/// dimension 1 index (the input's columns; the weight's and `dy`'s output channels).
fn channel_columns(kind: SpectrumKind, geometry: &ConvGeometry) -> (usize, usize) {
    let phases = match kind {
        SpectrumKind::Input | SpectrumKind::Weight => phase_count(geometry),
        SpectrumKind::OutputGrad => 1,
    };
    let per_group = match kind {
        SpectrumKind::Input => in_columns(geometry),
        SpectrumKind::Weight | SpectrumKind::OutputGrad => geometry.out_channels(),
    } / geometry.groups();
    (phases, per_group)
}

/// Tiles per image of the `kind` operand: the weight has one.
fn tiles_per_image(kind: SpectrumKind, tiles: &[AxisTiles; 3]) -> usize {
    match kind {
        SpectrumKind::Weight => 1,
        SpectrumKind::Input | SpectrumKind::OutputGrad => DeviceTiling::Tiles(*tiles).tiles(),
    }
}

/// The five dimensions of a spectrum.
fn dims(t: &CubeTensor) -> [usize; 5] {
    let shape = t.shape();
    [shape[0], shape[1], shape[2], shape[3], shape[4]]
}

/// The components an operand's tiles take on an axis split as [`AxisSplit`] says.
#[derive(Clone, Copy)]
enum Split {
    /// None: a unit axis.
    None,
    /// Column components on a strided axis, row ones on a dilated one: `x` and `dx`.
    Both(AxisSplit),
    /// Column components only: the weight and its gradient.
    Columns(AxisSplit),
    /// Row components only: `y` and `dy`.
    Rows(AxisSplit),
}

/// The launch arguments of one axis: `count` tiles `tiles.step` apart, `window` points of
/// each used, source samples `spread` points apart from `-offset`, and the components `split`
/// takes.
fn axis_args(
    tiles: &AxisTiles,
    count: usize,
    window: usize,
    spread: usize,
    offset: usize,
    split: Split,
) -> TileAxisArgsLaunch {
    let (scale, phases, rows, phase_spacing) = match split {
        Split::Both(s) | Split::Columns(s) if s.strided => (s.scale, s.columns, 1, s.spacing),
        Split::Both(s) | Split::Rows(s) if !s.strided => (s.scale, 1, s.rows, s.spacing),
        _ => (1, 1, 1, 0),
    };
    TileAxisArgsLaunch::new(
        tiles.step,
        count,
        window,
        spread,
        offset,
        scale,
        phases,
        rows,
        phase_spacing,
    )
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

/// `tensor` with three spatial axes (unit ones before those of a 1-D or 2-D tensor).
fn as_volumes(tensor: CubeTensor) -> CubeTensor {
    let shape = volume_shape(&tensor.shape());
    CubeBackend::float_reshape(tensor, Shape::from(shape))
}

/// `shape` with three spatial axes (unit ones before those of a 1-D or 2-D shape).
fn volume_shape(shape: &[usize]) -> Vec<usize> {
    let spatial = &shape[2..];
    let mut volume = vec![shape[0], shape[1]];
    volume.extend(std::iter::repeat_n(1, 3 - spatial.len()));
    volume.extend_from_slice(spatial);
    volume
}

/// The three axes of `geometry` as the tile kernels see them (none where a 1-D or 2-D
/// geometry has a unit axis).
fn axes3(geometry: &ConvGeometry) -> [Option<AxisGeometry>; 3] {
    let axes = geometry.axes();
    let missing = 3 - axes.len();
    std::array::from_fn(|index| index.checked_sub(missing).map(|axis| axes[axis]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_fill_shared_memory_up_to_eight_channels() {
        for shared in [LEAST_SHARED_BYTES, 48 * 1024, 64 * 1024] {
            for points in [1, 2, 64, 256, 512, 1024, 2048] {
                for channels in [1, 2, 3, 5, 8, 64] {
                    for dtype in [DType::F32, DType::F64] {
                        let lanes = lanes_for(points, channels, dtype, shared);
                        assert!(lanes.is_power_of_two() && lanes <= MAX_LANES);
                        assert!(units_for(points).is_multiple_of(lanes));
                        assert!(
                            lanes < 2 * channels,
                            "{lanes} lanes for {channels} channels"
                        );
                        let bytes = 2 * points * lanes * dtype.size();
                        assert!(lanes == 1 || bytes <= shared, "{bytes} bytes");
                        let more = 2 * lanes > channels.next_power_of_two() || lanes == MAX_LANES;
                        assert!(more || 2 * bytes > shared, "{lanes} lanes leave room");
                    }
                }
            }
        }
        let least = LEAST_SHARED_BYTES;
        assert_eq!(lanes_for(256, 64, DType::F32, least), 8);
        assert_eq!(lanes_for(1024, 64, DType::F32, least), 2);
        assert_eq!(lanes_for(1024, 64, DType::F64, least), 1);
        assert_eq!(lanes_for(256, 3, DType::F32, least), 4);
        // 48 KiB, what NVIDIA's Vulkan drivers state: twice the lanes on 32x32 tiles.
        assert_eq!(lanes_for(1024, 64, DType::F32, 48 * 1024), 4);
        assert_eq!(lanes_for(2048, 64, DType::F32, 48 * 1024), 2);
    }

    #[test]
    fn the_shared_memory_setting_is_a_whole_number_of_bytes() {
        assert_eq!(parse_shared_bytes(" 16384 "), Ok(16384));
        assert_eq!(parse_shared_bytes("49152"), Ok(49152));
        assert_eq!(parse_shared_bytes("8192"), Ok(8192));
        for bad in ["", "16k", "-1", "0", "1.5e4"] {
            let error = parse_shared_bytes(bad).expect_err(bad);
            assert!(error.contains("at least 1") && error.contains(&format!("{bad:?}")));
        }
    }
}
