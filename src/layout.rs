//! Shapes that the extension contract fixes before an operation runs (burn's Fusion records
//! the output shape of every custom operation when it is queued).
//!
//! The DFT shapes are the contract's own. A convolution spectrum's layout belongs to the
//! backend that makes it: host backends keep `[bins, rows, columns, 2]` (their kernels'
//! plan), and only the CubeCL backends, whose operations Fusion queues, need their layout
//! here, per-bin matrices over the transforms of [`DeviceTiling`]
//! ([`DeviceTiling::spectrum_shape`]).

use burn::tensor::Shape;
use fftconv_kernels::{AxisGeometry, ConvGeometry, SpectralBudget, SpectrumKind};

/// Transform size per axis of the composed CubeCL spectra: the padded input rounded up to a
/// power of two (burn-signal's sizes), and at least 2 (its device FFT needs a DC and a Nyquist
/// bin).
pub(crate) fn transform_size(geometry: &ConvGeometry) -> Vec<usize> {
    geometry
        .axes()
        .iter()
        .map(|a| a.padded_input().next_power_of_two().max(2))
        .collect()
}

/// Bins of a real transform of `size`: the last axis keeps `n / 2 + 1` of its `n`.
pub(crate) fn half_bins(size: &[usize]) -> Vec<usize> {
    let mut bins = size.to_vec();
    if let Some(last) = bins.last_mut() {
        *last = *last / 2 + 1;
    }
    bins
}

/// The largest tile, in points, of the CubeCL tile kernels: its complex values in f32 fill
/// 16 KiB of shared memory, the least a WebGPU device offers (32 KiB in f64).
pub(crate) const MAX_TILE_POINTS: usize = 2048;

/// The largest tile side of the CubeCL tile kernels where a tile spans more than one axis: a
/// tile with one axis of more than one point (a 1-D filter) may fill [`MAX_TILE_POINTS`]
/// along it, so that long filters run on tiles too.
const MAX_TILE_SIDE: usize = 64;

/// Whether a tile of `sides` (points per axis) fits the tile kernels: [`MAX_TILE_POINTS`] in
/// all, and [`MAX_TILE_SIDE`] a side unless the tile spans one axis.
fn tile_fits(sides: &[usize]) -> bool {
    let spanned = sides.iter().filter(|&&side| side > 1).count();
    sides.iter().product::<usize>() <= MAX_TILE_POINTS
        && (spanned <= 1 || sides.iter().all(|&side| side <= MAX_TILE_SIDE))
}

/// The polyphase components of `geometry`'s input that its kernel meets on strided axes, over
/// all axes ([`AxisGeometry::phase_count`]): the tile kernels' contraction takes that many
/// columns per input channel.
pub(crate) fn phase_count(geometry: &ConvGeometry) -> usize {
    geometry
        .axes()
        .iter()
        .map(AxisGeometry::phase_count)
        .product()
}

/// The input's columns in the tile kernels' contraction: its channels times their
/// [`phase_count`] polyphase components.
pub(crate) fn in_columns(geometry: &ConvGeometry) -> usize {
    geometry.in_channels() * phase_count(geometry)
}

/// How the tile kernels split one axis into stride-1 correlations of kernels with as few
/// zeros as the geometry allows (see `tiles.rs`): a strided axis into the polyphase
/// components of its input, which are columns of the channel contraction; a dilated axis
/// without stride into the components of its output and input, each the correlation of the
/// dense kernel, which are rows of the contraction (images of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AxisSplit {
    /// Whether the axis is strided: its components are columns, else rows.
    pub strided: bool,
    /// Input components per channel (column components), 1 without stride.
    pub columns: usize,
    /// Output components (row components): the dilation, or the outputs where fewer; 1 with
    /// stride or without dilation.
    pub rows: usize,
    /// Points of a component's kernel.
    pub kernel: usize,
    /// Outputs of the longest component.
    pub outputs: usize,
    /// Source samples between neighbouring points of a component: the stride, or the
    /// dilation where there is none.
    pub scale: usize,
    /// What the residue (modulo `scale`) of a component adds to the previous one's: the
    /// dilation for column components, 1 for row ones.
    pub spacing: usize,
    /// Points between neighbouring taps of a component's kernel in the weight: the dilation
    /// on a strided axis, 1 on the others (their kernel is dense).
    pub kernel_spread: usize,
}

impl AxisSplit {
    /// The split of `axis`.
    pub(crate) fn of(axis: &AxisGeometry) -> Self {
        if axis.stride() > 1 {
            Self {
                strided: true,
                columns: axis.phase_count(),
                rows: 1,
                kernel: axis.phase_kernel(),
                outputs: axis.output(),
                scale: axis.stride(),
                spacing: axis.dilation(),
                kernel_spread: axis.dilation(),
            }
        } else {
            Self {
                strided: false,
                columns: 1,
                rows: axis.dilation().min(axis.output()),
                kernel: axis.kernel(),
                outputs: axis.output().div_ceil(axis.dilation()),
                scale: axis.dilation(),
                spacing: 1,
                kernel_spread: 1,
            }
        }
    }
}

/// Overlap-save tiling of one axis's split correlation ([`AxisSplit`]) on CubeCL devices:
/// `count` tiles of `tile` points, `step` outputs apart (`tile - kernel + 1`, the outputs one
/// tile computes), in each of `rows` row components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AxisTiles {
    /// Transform size (a power of two).
    pub tile: usize,
    /// Outputs per tile.
    pub step: usize,
    /// Tiles along the axis per row component.
    pub count: usize,
    /// Row components ([`AxisSplit::rows`]).
    pub rows: usize,
}

impl AxisTiles {
    /// `tile`-point tiles over `split`: enough to cover its outputs.
    fn new(split: &AxisSplit, tile: usize) -> Self {
        let step = tile + 1 - split.kernel;
        Self {
            tile,
            step,
            count: split.outputs.div_ceil(step),
            rows: split.rows,
        }
    }

    /// The axes a 1-D or 2-D geometry has before its own: one point, one tile.
    const UNIT: Self = Self {
        tile: 1,
        step: 1,
        count: 1,
        rows: 1,
    };
}

/// How CubeCL devices transform the operands of a geometry: small overlap-save tiles over
/// three axes for the tile kernels (`tiles.rs`), or the whole padded image at power-of-two
/// sizes for the composed path (kernels too large for a tile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceTiling {
    /// Depth, height and width tiles (a 1-D or 2-D geometry's leading axes are unit ones).
    Tiles([AxisTiles; 3]),
    /// One transform of [`transform_size`] per image.
    Whole(Vec<usize>),
}

impl DeviceTiling {
    /// The tiling of `geometry`: the tiles of least modeled work (channel contraction per
    /// bin, transforms per channel and point) among powers of two that hold a component's
    /// kernel ([`AxisSplit`]) and fit a tile.
    pub(crate) fn of(geometry: &ConvGeometry) -> Self {
        let axes = geometry.axes();
        let sides = |axis: &AxisGeometry| {
            let split = AxisSplit::of(axis);
            let first = split.kernel.next_power_of_two();
            let last = (split.outputs + split.kernel - 1)
                .next_power_of_two()
                .min(MAX_TILE_POINTS);
            (0..=MAX_TILE_POINTS.trailing_zeros())
                .map(|p| 1 << p)
                .filter(move |&t| t >= first && t <= last)
                .map(|t| AxisTiles::new(&split, t))
                // A long tile computes at least a quarter of its points as outputs: past that,
                // its overlap makes more work than the whole transform (a filter of 1,800
                // taps would leave a 2,048-point tile 249 outputs).
                .filter(|t| t.tile <= MAX_TILE_SIDE || 4 * t.step >= t.tile)
                .collect::<Vec<_>>()
        };
        let mut candidates: [Vec<AxisTiles>; 3] = std::array::from_fn(|_| vec![AxisTiles::UNIT]);
        for (slot, axis) in candidates[3 - axes.len()..].iter_mut().zip(axes) {
            *slot = sides(axis);
        }
        let groups = geometry.groups();
        let in_columns = in_columns(geometry);
        let contraction = (in_columns * geometry.out_channels() / groups) as f64;
        let channels = (in_columns + geometry.out_channels()) as f64;
        let work = |tiles: &[AxisTiles; 3]| {
            let points: usize = tiles.iter().map(|t| t.tile).product();
            let bins = (points / tiles[2].tile * (tiles[2].tile / 2 + 1)) as f64;
            let count: usize = tiles.iter().map(|t| t.count * t.rows).product();
            let points = points as f64;
            count as f64
                * (4.0 * bins * contraction + 10.0 * channels * points * (points.log2() + 1.0))
        };
        let [depths, heights, widths] = &candidates;
        depths
            .iter()
            .flat_map(|&d| {
                heights
                    .iter()
                    .flat_map(move |&h| widths.iter().map(move |&w| [d, h, w]))
            })
            .filter(|tiles| tile_fits(&tiles.map(|t| t.tile)))
            .min_by(|a, b| work(a).total_cmp(&work(b)))
            .filter(|tiles| Self::indexable(tiles, geometry))
            .map_or_else(|| Self::whole(geometry), Self::Tiles)
    }

    /// Whether every tensor the tile kernels index for `geometry` (operands, results,
    /// spectra, the input gradient's overlapping tiles) has at most `u32::MAX` values: the
    /// kernels index in 32 bits, so larger layers take the composed path, whose operations
    /// choose their index width.
    fn indexable(tiles: &[AxisTiles; 3], geometry: &ConvGeometry) -> bool {
        let points: usize = tiles.iter().map(|t| t.tile).product();
        let tiling = Self::Tiles(*tiles);
        let count = tiling.tiles();
        let spectra = [
            SpectrumKind::Input,
            SpectrumKind::Weight,
            SpectrumKind::OutputGrad,
        ]
        .map(|kind| tiling.spectrum_shape(&kind, geometry).num_elements());
        let in_columns = in_columns(geometry);
        let overlapping_tiles = [geometry.batch(), in_columns, count, points]
            .iter()
            .try_fold(1usize, |product, &n| product.checked_mul(n));
        let operands = [
            geometry.input_shape(),
            geometry.output_shape(),
            geometry.weight_shape(),
        ]
        .map(|shape| shape.iter().product::<usize>());
        let limit = u32::MAX as usize;
        overlapping_tiles.is_some_and(|n| n <= limit)
            && spectra.into_iter().chain(operands).all(|n| n <= limit)
    }

    /// Whether one transform and each spectrum of `geometry` under this tiling fit `budget`
    /// (a spectrum's size counted in complex values: its floats over two).
    pub(crate) fn fits(&self, geometry: &ConvGeometry, budget: &SpectralBudget) -> bool {
        let points: usize = self.size().iter().product();
        points <= budget.max_transform_points
            && [
                SpectrumKind::Input,
                SpectrumKind::Weight,
                SpectrumKind::OutputGrad,
            ]
            .iter()
            .all(|kind| {
                self.spectrum_shape(kind, geometry).num_elements() / 2 <= budget.max_spectrum_values
            })
    }

    /// The composed path's tiling: one transform of the whole padded image.
    pub(crate) fn whole(geometry: &ConvGeometry) -> Self {
        Self::Whole(transform_size(geometry))
    }

    /// Transform size per axis (three for tiles).
    fn size(&self) -> Vec<usize> {
        match self {
            Self::Tiles(axes) => axes.iter().map(|a| a.tile).collect(),
            Self::Whole(size) => size.clone(),
        }
    }

    /// Tiles per image, over all row components.
    pub(crate) fn tiles(&self) -> usize {
        match self {
            Self::Tiles(axes) => axes.iter().map(|a| a.count * a.rows).product(),
            Self::Whole(_) => 1,
        }
    }

    /// The shape of a spectrum of `kind` under this tiling: per-bin matrices of image tiles
    /// by channels for `x` and `dy`, and output by input channels for the weight; under
    /// tiles, each input channel is [`phase_count`] columns, one per polyphase component.
    ///
    /// For tiles, `[groups, bins, rows, 2, columns]`: each row its real parts, then its
    /// imaginary parts, so that each pass is one real matrix product. The weight's matrix
    /// `W = A + iB` is stored in its real form `[[A, B], [-B, A]]`, `[groups, bins, 2, rows,
    /// 2 * columns]`, which the input gradient multiplies as it is and the forward pass
    /// transposed. For whole images, `[2, groups, bins, rows, columns]`: the real parts, then
    /// the imaginary parts.
    pub(crate) fn spectrum_shape(&self, kind: &SpectrumKind, geometry: &ConvGeometry) -> Shape {
        let bins: usize = half_bins(&self.size()).iter().product();
        let groups = geometry.groups();
        let per_group = |channels: usize| channels / groups;
        let image_tiles = geometry.batch() * self.tiles();
        let phases = match self {
            Self::Tiles(_) => phase_count(geometry),
            Self::Whole(_) => 1,
        };
        let in_columns = per_group(geometry.in_channels()) * phases;
        let (rows, columns) = match kind {
            SpectrumKind::Input => (image_tiles, in_columns),
            SpectrumKind::Weight => (per_group(geometry.out_channels()), in_columns),
            SpectrumKind::OutputGrad => (image_tiles, per_group(geometry.out_channels())),
        };
        match (self, kind) {
            (Self::Tiles(_), SpectrumKind::Weight) => {
                Shape::from([groups, bins, 2, rows, 2 * columns])
            }
            (Self::Tiles(_), _) => Shape::from([groups, bins, rows, 2, columns]),
            (Self::Whole(_), _) => Shape::from([2, groups, bins, rows, columns]),
        }
    }
}

/// The shape of a CubeCL spectrum of `kind` ([`DeviceTiling::spectrum_shape`] of the
/// geometry's tiling).
pub(crate) fn spectrum_shape(kind: &SpectrumKind, geometry: &ConvGeometry) -> Shape {
    DeviceTiling::of(geometry).spectrum_shape(kind, geometry)
}

/// The shape of a real DFT's half spectrum of maps of shape `x`: `[.., h, w / 2 + 1]`.
pub(crate) fn half_spectrum_shape(x: &Shape) -> Shape {
    real_shape(x, x[x.num_dims() - 1] / 2 + 1)
}

/// `shape` with its last dimension set to `width`: the real maps an inverse real DFT makes
/// of half spectra.
pub(crate) fn real_shape(shape: &Shape, width: usize) -> Shape {
    let mut shape = shape.clone();
    let rank = shape.num_dims();
    shape[rank - 1] = width;
    shape
}

#[cfg(test)]
mod tests {
    use fftconv_kernels::{ConvGeometry, SpectralBudget, SpectrumKind};
    use fftconv_testing::{GeometryLimits, Sampler};

    use super::{AxisSplit, AxisTiles, DeviceTiling, tile_fits};

    /// Every geometry whose components' kernels fit a tile gets tiles that cover each
    /// component's outputs, none of them idle, each holding the kernel; other geometries
    /// transform whole images. Components: the stride's on strided axes, the dilation's
    /// (or one per output, where fewer) on the others.
    #[test]
    fn device_tiles_cover_the_outputs() {
        let mut sampler = Sampler::new(3);
        for rank in [1, 2, 3] {
            let limits = GeometryLimits {
                rank,
                size: 80,
                kernel: 9,
                ..GeometryLimits::default()
            };
            for _ in 0..300 {
                let g = sampler.geometry(&limits);
                let tiles = match DeviceTiling::of(&g) {
                    DeviceTiling::Tiles(tiles) => tiles,
                    DeviceTiling::Whole(size) => {
                        let smallest_tile: Vec<usize> = g
                            .axes()
                            .iter()
                            .map(|a| AxisSplit::of(a).kernel.next_power_of_two())
                            .collect();
                        assert!(!tile_fits(&smallest_tile), "{g:?}");
                        assert_eq!(size.len(), rank);
                        continue;
                    }
                };
                assert!(tile_fits(&tiles.map(|t| t.tile)), "{g:?}");
                assert!(tiles[..3 - rank].iter().all(|t| *t == AxisTiles::UNIT));
                for (t, a) in tiles[3 - rank..].iter().zip(g.axes()) {
                    let split = AxisSplit::of(a);
                    let outputs = split.outputs;
                    assert!(t.tile.is_power_of_two() && t.tile >= split.kernel);
                    assert_eq!(t.step, t.tile + 1 - split.kernel);
                    if a.stride() > 1 {
                        assert_eq!((t.rows, split.columns), (1, a.phase_count()));
                        assert_eq!(split.kernel, a.phase_kernel());
                    } else {
                        assert_eq!((t.rows, split.columns), (a.dilation().min(a.output()), 1));
                        assert_eq!(split.kernel, a.kernel());
                        // Row component `b` has outputs `b, b + d, ...`: the first the most.
                        assert_eq!(outputs, a.output().div_ceil(a.dilation()));
                    }
                    assert!(t.count * t.step >= outputs && (t.count - 1) * t.step < outputs);
                }
            }
        }
    }

    /// A tiling fits a budget exactly as large as its largest spectrum and its transform, and
    /// no smaller one.
    #[test]
    fn device_tilings_fit_the_budget_at_their_sizes() {
        let geometries = [
            ConvGeometry::new(
                &[4, 8, 40, 40],
                &[16, 8, 5, 5],
                [1, 1],
                [(2, 2); 2],
                [1, 1],
                1,
            ),
            ConvGeometry::new(
                &[2, 6, 30, 30],
                &[6, 3, 9, 9],
                [2, 1],
                [(4, 4); 2],
                [1, 1],
                2,
            ),
            ConvGeometry::new(&[1, 2, 100], &[3, 2, 70], [1], [(69, 0)], [1], 1),
        ];
        for geometry in geometries {
            let geometry = geometry.unwrap();
            let tiling = DeviceTiling::of(&geometry);
            let points: usize = tiling.size().iter().product();
            let values = [
                SpectrumKind::Input,
                SpectrumKind::Weight,
                SpectrumKind::OutputGrad,
            ]
            .map(|kind| tiling.spectrum_shape(&kind, &geometry).num_elements() / 2)
            .into_iter()
            .max()
            .unwrap();
            let budget = |max_transform_points, max_spectrum_values| SpectralBudget {
                max_transform_points,
                max_spectrum_values,
            };
            assert!(
                tiling.fits(&geometry, &budget(points, values)),
                "{tiling:?}"
            );
            assert!(!tiling.fits(&geometry, &budget(points - 1, values)));
            assert!(!tiling.fits(&geometry, &budget(points, values - 1)));
        }
    }

    /// Tiles span more than 64 points along one axis only, and keep a quarter of their points
    /// as outputs there: a 1-D filter of 1,000 taps gets tiles of 2,048 points, a 1-D filter
    /// of 1,800 taps and a 2-D kernel of 65 by 3 taps whole images.
    #[test]
    fn long_tiles_span_one_axis() {
        assert!(tile_fits(&[1, 1, 2048]) && tile_fits(&[1, 2048, 1]) && tile_fits(&[2, 32, 32]));
        assert!(!tile_fits(&[1, 1, 4096]) && !tile_fits(&[1, 128, 4]) && !tile_fits(&[2, 2, 1024]));
        let long =
            ConvGeometry::new(&[1, 2, 5000], &[2, 2, 1000], [1], [(999, 0)], [1], 1).unwrap();
        let DeviceTiling::Tiles(tiles) = DeviceTiling::of(&long) else {
            panic!("no tiles for a filter of 1,000 taps");
        };
        assert_eq!((tiles[2].tile, tiles[2].step), (2048, 1049));
        let longer =
            ConvGeometry::new(&[1, 2, 5000], &[2, 2, 1800], [1], [(1799, 0)], [1], 1).unwrap();
        assert!(matches!(DeviceTiling::of(&longer), DeviceTiling::Whole(_)));
        let wide = ConvGeometry::new(
            &[1, 1, 70, 70],
            &[1, 1, 65, 3],
            [1, 1],
            [(0, 0), (1, 1)],
            [1, 1],
            1,
        )
        .unwrap();
        assert!(matches!(DeviceTiling::of(&wide), DeviceTiling::Whole(_)));
    }

    /// A dilated kernel wider than the largest 2-D tile (65 by 65 taps) gets tiles: its row
    /// components correlate the dense kernel (3 by 3 taps), one component per residue of the
    /// dilation.
    #[test]
    fn dilated_kernels_wider_than_a_tile_get_tiles() {
        let dilated = ConvGeometry::new(
            &[1, 2, 100, 100],
            &[3, 2, 3, 3],
            [1, 1],
            [(32, 32); 2],
            [32, 32],
            1,
        )
        .unwrap();
        let DeviceTiling::Tiles(tiles) = DeviceTiling::of(&dilated) else {
            panic!("no tiles for a dilated kernel of 65 by 65 taps");
        };
        for axis in &tiles[1..] {
            assert_eq!(axis.rows, 32);
            assert_eq!(axis.step, axis.tile - 2);
            assert!(axis.count * axis.step >= 100_usize.div_ceil(32));
        }
    }

    /// The benchmark layer (16 x 64 -> 64 channels, 64x64, "same") gets tiles smaller than
    /// the image up to kernel 15; a kernel larger than the largest tile side falls back to
    /// whole images.
    #[test]
    fn device_tiles_of_the_benchmark_layer() {
        let layer = |kernel: usize| {
            let pad = (kernel / 2, kernel - 1 - kernel / 2);
            ConvGeometry::new(
                &[16, 64, 64, 64],
                &[64, 64, kernel, kernel],
                [1, 1],
                [pad; 2],
                [1, 1],
                1,
            )
            .unwrap()
        };
        for kernel in [3, 5, 7, 15] {
            let DeviceTiling::Tiles(tiles) = DeviceTiling::of(&layer(kernel)) else {
                panic!("kernel {kernel}: no tiles");
            };
            assert_eq!(tiles[0], AxisTiles::UNIT);
            assert!(tiles[1..].iter().all(|t| t.count > 1), "{tiles:?}");
        }
        assert!(matches!(
            DeviceTiling::of(&layer(65)),
            DeviceTiling::Whole(_)
        ));
        // A batch whose spectra pass 2^32 values, more than the tile kernels' 32-bit indices
        // reach, is left to the composed path.
        let huge = ConvGeometry::new(
            &[1 << 16, 64, 64, 64],
            &[64, 64, 3, 3],
            [1, 1],
            [(1, 1); 2],
            [1, 1],
            1,
        )
        .unwrap();
        assert!(matches!(DeviceTiling::of(&huge), DeviceTiling::Whole(_)));
        // The 3-D bench layer (2 x 16 -> 16 channels, 32^3, "same") gets tiles on every axis.
        for kernel in [3, 5, 7] {
            let pad = (kernel / 2, kernel / 2);
            let volume = ConvGeometry::new(
                &[2, 16, 32, 32, 32],
                &[16, 16, kernel, kernel, kernel],
                [1; 3],
                [pad; 3],
                [1; 3],
                1,
            )
            .unwrap();
            let DeviceTiling::Tiles(tiles) = DeviceTiling::of(&volume) else {
                panic!("3-D kernel {kernel}: no tiles");
            };
            assert!(tiles.iter().all(|t| t.tile > 1), "{tiles:?}");
        }
    }
}
