//! The three FFT identities of a convolution layer (Mathieu, Henaff & LeCun 2014), in one,
//! two or three dimensions: every geometry has three axes here, a lower rank's leading ones
//! of one sample and one tap.
//!
//! Stride and dilation are removed first by a polyphase split, axis by axis: input index
//! `i * s + a * d` is index `i + q` of the phase-`p` sub-image, where `a * d = q * s + p`.
//! Every combination of phases becomes an extra input channel, the kernel splits into one
//! sub-kernel per combination, and what is left is a stride-1 "valid" correlation of images
//! of length `out + taps - 1` per axis. A circular transform of at least that length is exact
//! for it, so the FFT size is the output plus the (phase) kernel, rounded up to a fast size,
//! never the full padded input plus kernel.
//!
//! With `^` the real FFT and sums per frequency bin:
//! - forward: `Y^[n,f] = sum_c X^[n,c] conj(W^[f,c])`;
//! - input gradient: `dX^[n,c] = sum_f dY^[n,f] W^[f,c]`;
//! - weight gradient: `dW^[f,c] = sum_n conj(dY^[n,f]) X^[n,c]`.
//!
//! Each is, bin by bin, a complex matrix product over channels (block-diagonal over groups),
//! run as one GEMM per bin and group.

use num_complex::Complex;
use rayon::prelude::*;
use std::sync::Arc;

use crate::budget::SpectralBudget;
use crate::fft::{FftPlan, Scalar};
use crate::geometry::{ConvGeometry, GeometryError, PhaseSource, SourceRun, check_len};
use crate::kernel_dft::KernelDft;
use crate::matmul::{Operand, matmul};
use crate::memory;
use crate::parallel::SplitIfWorth;
use crate::tiling::TileLayout;

/// Which tensor a spectrum was taken of; fixes its matrix shape per bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpectrumKind {
    /// The input `x`: `batch x (in_channels * phases)`.
    Input,
    /// The weight: `out_channels x (in_channels / groups * phases)`.
    Weight,
    /// The output gradient `dy`: `batch x out_channels`.
    OutputGrad,
}

/// The spectral form of one convolution geometry: FFT plans and polyphase maps, reusable
/// across calls with the same geometry.
#[derive(Clone)]
pub struct SpectralConv<T: Scalar> {
    geometry: ConvGeometry,
    phases: [Vec<usize>; 3],
    sources: [Vec<PhaseSource>; 3],
    layout: TileLayout,
    fft: Arc<FftPlan<T>>,
    /// For each polyphase combination, its kernel taps as `(tap, place)`: the tap's row-major
    /// index in a kernel and its offset in a transform image. Computed once per geometry: a
    /// layer of 512 x 512 channels gathers and scatters 262,144 kernels per step, and working
    /// each tap's place out per kernel took a fifth of its spectral time.
    tap_places: Arc<[Vec<(usize, usize)>]>,
}

/// Row-major offset of `index` in an array of `dims`.
fn offset(index: [usize; 3], dims: [usize; 3]) -> usize {
    (index[0] * dims[1] + index[1]) * dims[2] + index[2]
}

/// The multi-index of row-major position `flat` in an array of `dims`.
fn unflatten(flat: usize, dims: [usize; 3]) -> [usize; 3] {
    [
        flat / (dims[1] * dims[2]),
        flat / dims[2] % dims[1],
        flat % dims[2],
    ]
}

/// Calls `visit(i0, i1)` for the rows of the `extent[0] x extent[1]` corner of leading axes.
fn for_each_row(extent: [usize; 2], mut visit: impl FnMut(usize, usize)) {
    for i0 in 0..extent[0] {
        for i1 in 0..extent[1] {
            visit(i0, i1);
        }
    }
}

/// Multiply-adds per group and bin below which [`BinGemm`] loops instead of calling `gemm`
/// for a layer of several groups (the loops run over the groups innermost): one `gemm` call
/// cost about 0.5 us of set-up here (a 144x1x1 product 3.5 ns per multiply-add, 144x4x4 0.5
/// ns, 144x8x8 0.1 ns, one core of a Xeon), the loops about 0.5 ns.
const SMALL_GROUPED_PRODUCT: usize = 2048;

/// [`SMALL_GROUPED_PRODUCT`] for a layer of one group, whose loops run a group at a time:
/// about 2.5 ns a multiply-add, against about 0.15 us a `gemm` call and 0.2 ns a
/// multiply-add in it (one core of the 2-core Xeon, forward products of 1x16x16 and 4x16x16
/// per bin: with the loops 2.4x and 3.2x slower).
const SMALL_PRODUCT: usize = 64;

/// Rows of a product up to which its right operand is multiplied in panels of columns (copied
/// together first where the operand is stored row by row). On products this thin `gemm` 0.19
/// (which packs from 8 times its microkernels' 6 columns) reads a right operand stored row by
/// row in place, a whole row apart at every step (in a deep layer's input gradient, the
/// weight's spectrum with rows of 4 KiB, 1.75x the forward product's time), and packs one
/// stored column by column whole, past the L2 cache (the forward product, 7%-10% slower).
const PANELS_UP_TO_ROWS: usize = 48;

/// Bytes of one row of a panel of [`PANELS_UP_TO_ROWS`]: a 512-row panel of f32 then fills
/// 512 KiB, about a core's L2 cache (64 to 192 columns of f32 measured alike, 32 and 256
/// slower).
const RHS_PANEL_ROW_BYTES: usize = 1024;

/// One grouped complex GEMM per frequency bin: `dst[g] = op(lhs[g]) op(rhs[g])`, with strides
/// in elements inside one bin's matrices and per-group offsets.
struct BinGemm {
    m: usize,
    n: usize,
    k: usize,
    groups: usize,
    dst: MatrixLayout,
    lhs: MatrixLayout,
    rhs: MatrixLayout,
    conj_lhs: bool,
    conj_rhs: bool,
}

#[derive(Clone, Copy)]
struct MatrixLayout {
    row_stride: usize,
    col_stride: usize,
    group_offset: usize,
}

impl MatrixLayout {
    fn new(row_stride: usize, col_stride: usize, group_offset: usize) -> Self {
        Self {
            row_stride,
            col_stride,
            group_offset,
        }
    }

    /// `[row, column]` strides, as [`matmul`] takes them.
    fn strides(&self) -> [usize; 2] {
        [self.row_stride, self.col_stride]
    }
}

impl BinGemm {
    /// Runs the product for every bin; `*_bin` are the lengths of one bin's matrices.
    fn run<T: Scalar>(
        &self,
        bins: usize,
        lhs: &[Complex<T>],
        lhs_bin: usize,
        rhs: &[Complex<T>],
        rhs_bin: usize,
        dst_bin: usize,
    ) -> memory::Reused<Complex<T>> {
        assert_eq!(
            Some(lhs.len()),
            bins.checked_mul(lhs_bin),
            "left spectrum length"
        );
        assert_eq!(
            Some(rhs.len()),
            bins.checked_mul(rhs_bin),
            "right spectrum length"
        );
        // Every bin's and group's matrices inside their bins, checked once with the layer's
        // numbers in the message (each product checks its own again).
        assert!(
            self.fits(dst_bin, &self.dst, self.m, self.n)
                && self.fits(lhs_bin, &self.lhs, self.m, self.k)
                && self.fits(rhs_bin, &self.rhs, self.k, self.n),
            "per-bin matrices of {}x{}x{} in {} groups exceed the bin lengths ({dst_bin}, \
             {lhs_bin}, {rhs_bin})",
            self.m,
            self.k,
            self.n,
            self.groups
        );
        // Every element is written: gemm overwrites each group's `m x n` block (zeroes it when
        // `k` is 0), and the groups tile the bin.
        assert_eq!(
            self.groups * self.m * self.n,
            dst_bin,
            "groups tile the bin"
        );
        let mut dst = memory::reused::<Complex<T>>(bins * dst_bin);
        let small = self.loops_pay();
        let panel_columns = RHS_PANEL_ROW_BYTES / size_of::<Complex<T>>();
        let panels = !small && self.m <= PANELS_UP_TO_ROWS && self.n > panel_columns;
        let panel_width = if panels { panel_columns } else { self.n.max(1) };
        let copy_panels = panels && self.rhs.col_stride == 1;
        dst.par_chunks_mut(dst_bin)
            .enumerate()
            .split_if_worth(self.groups * self.m * self.n * self.k)
            .for_each_init(Vec::new, |panel, (bin, dst_k)| {
                let lhs_k = &lhs[bin * lhs_bin..(bin + 1) * lhs_bin];
                let rhs_k = &rhs[bin * rhs_bin..(bin + 1) * rhs_bin];
                if small {
                    self.small_products(dst_k, lhs_k, rhs_k);
                    return;
                }
                for g in 0..self.groups {
                    for first in (0..self.n).step_by(panel_width) {
                        let width = panel_width.min(self.n - first);
                        let rhs_start = g * self.rhs.group_offset + first * self.rhs.col_stride;
                        let (rhs_values, rhs_layout) = if copy_panels {
                            self.copy_panel(&rhs_k[rhs_start..], width, panel);
                            (&panel[..], MatrixLayout::new(width, 1, 0))
                        } else {
                            (&rhs_k[rhs_start..], self.rhs)
                        };
                        let dst_start = g * self.dst.group_offset + first * self.dst.col_stride;
                        matmul(
                            [self.m, width, self.k],
                            (&mut dst_k[dst_start..], self.dst.strides()),
                            Operand::new(&lhs_k[g * self.lhs.group_offset..], self.lhs.strides())
                                .conjugated(self.conj_lhs),
                            Operand::new(rhs_values, rhs_layout.strides())
                                .conjugated(self.conj_rhs),
                            false,
                        );
                    }
                }
            });
        dst
    }

    /// Whether [`BinGemm::small_products`] beats a `gemm` call per group and bin.
    fn loops_pay(&self) -> bool {
        let limit = if self.groups > 1 {
            SMALL_GROUPED_PRODUCT
        } else {
            SMALL_PRODUCT
        };
        self.m * self.n * self.k < limit
    }

    /// Whether several groups' values lie next to each other in all three matrices, so that
    /// [`BinGemm::small_products`] runs over them as contiguous slices.
    fn groups_side_by_side(&self) -> bool {
        self.groups > 1
            && [self.dst, self.lhs, self.rhs]
                .iter()
                .all(|layout| layout.group_offset == 1)
    }

    /// One bin's products as plain loops with the groups innermost: for matrices this small
    /// (a depthwise layer's are 1x1 in the forward pass), a GEMM call per group costs more
    /// than its arithmetic, and neighbouring groups lie side by side in each spectrum.
    fn small_products<T: Scalar>(
        &self,
        dst: &mut [Complex<T>],
        lhs: &[Complex<T>],
        rhs: &[Complex<T>],
    ) {
        // Conjugation as the sign of the imaginary part, so the loops do not branch on it.
        let sign = |conj: bool| if conj { -T::one() } else { T::one() };
        let (lhs_sign, rhs_sign) = (sign(self.conj_lhs), sign(self.conj_rhs));
        let multiply_add = |d: &mut Complex<T>, a: &Complex<T>, b: &Complex<T>| {
            *d = *d + Complex::new(a.re, a.im * lhs_sign) * Complex::new(b.re, b.im * rhs_sign);
        };
        let groups = self.groups;
        let side_by_side = self.groups_side_by_side();
        let offsets = [self.dst, self.lhs, self.rhs].map(|layout| layout.group_offset);
        dst.fill(Complex::default());
        for i in 0..self.m {
            for j in 0..self.n {
                let out = i * self.dst.row_stride + j * self.dst.col_stride;
                for l in 0..self.k {
                    let a = i * self.lhs.row_stride + l * self.lhs.col_stride;
                    let b = l * self.rhs.row_stride + j * self.rhs.col_stride;
                    if side_by_side {
                        // Side by side (depthwise): slices the compiler can vectorize.
                        let d = dst[out..out + groups].iter_mut();
                        for ((d, a), b) in d.zip(&lhs[a..a + groups]).zip(&rhs[b..b + groups]) {
                            multiply_add(d, a, b);
                        }
                    } else {
                        for g in 0..groups {
                            multiply_add(
                                &mut dst[out + g * offsets[0]],
                                &lhs[a + g * offsets[1]],
                                &rhs[b + g * offsets[2]],
                            );
                        }
                    }
                }
            }
        }
    }

    /// Copies `width` columns of a right operand stored row by row, from `rhs`'s start, into
    /// `panel`, row after row.
    fn copy_panel<T: Scalar>(&self, rhs: &[Complex<T>], width: usize, panel: &mut Vec<Complex<T>>) {
        panel.clear();
        for row in 0..self.k {
            panel.extend_from_slice(&rhs[row * self.rhs.row_stride..][..width]);
        }
    }

    /// Whether the `rows x cols` matrices of every group, at `layout`, lie in `len` elements.
    fn fits(&self, len: usize, layout: &MatrixLayout, rows: usize, cols: usize) -> bool {
        let strides = [layout.group_offset, layout.row_stride, layout.col_stride];
        crate::matmul::fits(len, [self.groups, rows, cols], strides)
    }
}

impl<T: Scalar> SpectralConv<T> {
    /// Plans the transforms for `geometry`, with the tile size the cost model prefers.
    /// Refused when they exceed the [`SpectralBudget`].
    pub fn new(geometry: ConvGeometry) -> Result<Self, GeometryError> {
        Self::with_tile(geometry, crate::cost::choose_tile(&geometry)?)
    }

    /// Plans the transforms for `geometry`, split into output tiles of `tile` outputs along
    /// each of the three axes (a lower rank's leading axes have one output: their tile is 1)
    /// (overlap-save for the forward pass and the weight gradient, overlap-add for the input
    /// gradient), so that spectra are the size of a tile plus the kernel, not of the image.
    /// Tile sizes are clamped to `1..=output`. Refused when the transforms or spectra exceed
    /// the [`SpectralBudget`].
    pub fn with_tile(geometry: ConvGeometry, tile: [usize; 3]) -> Result<Self, GeometryError> {
        let budget = SpectralBudget::current();
        let layout = TileLayout::new(&geometry, tile, &budget)?;
        layout.check_spectra(&geometry, &budget)?;
        let axes = geometry.axes3();
        let phases = axes.map(|axis| axis.phases());
        let sources =
            [0, 1, 2].map(|i| phases[i].iter().map(|&p| axes[i].phase_source(p)).collect());
        let tap_places = Self::tap_places(&geometry, &phases, layout.fft);
        Ok(Self {
            geometry,
            phases,
            sources,
            layout,
            fft: FftPlan::cached(layout.fft),
            tap_places,
        })
    }

    /// [`SpectralConv::tap_places`] of `geometry`, whose axes have the polyphase components
    /// `phases`, in transform images of `fft` points per axis.
    fn tap_places(
        geometry: &ConvGeometry,
        phases: &[Vec<usize>; 3],
        fft: [usize; 3],
    ) -> Arc<[Vec<(usize, usize)>]> {
        let axes = geometry.axes3();
        let kernel = geometry.spatial(|a| a.kernel());
        let counts = phases.each_ref().map(Vec::len);
        (0..counts.iter().product())
            .map(|phase| {
                let p = unflatten(phase, counts);
                (0..kernel.iter().product())
                    .filter_map(|tap| {
                        let a = unflatten(tap, kernel);
                        let q = [0, 1, 2].map(|i| axes[i].tap_in_phase(a[i], phases[i][p[i]]));
                        match q {
                            [Some(q0), Some(q1), Some(q2)] => {
                                Some((tap, offset([q0, q1, q2], fft)))
                            }
                            _ => None,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Outputs per tile along each of the three axes.
    pub fn tile(&self) -> [usize; 3] {
        self.layout.tile
    }

    fn tile_count(&self) -> usize {
        self.layout.tile_count()
    }

    /// Position of tile `t`'s first output (and first polyphase-image sample).
    fn tile_origin(&self, t: usize) -> [usize; 3] {
        let index = unflatten(t, self.layout.tiles);
        [0, 1, 2].map(|i| index[i] * self.layout.tile[i])
    }

    /// The outputs of tile `t`: its origin and its extent, cut at the output's end.
    fn tile_box(&self, t: usize) -> ([usize; 3], [usize; 3]) {
        let origin = self.tile_origin(t);
        let output = self.geometry.spatial(|a| a.output());
        let extent = [0, 1, 2].map(|i| self.layout.tile[i].min(output[i] - origin[i]));
        (origin, extent)
    }

    /// FFT size along each of the three axes.
    pub fn fft_size(&self) -> [usize; 3] {
        self.layout.fft
    }

    /// Frequency bins of one spectrum image.
    pub fn bins(&self) -> usize {
        self.layout.bins()
    }

    fn phase_count(&self) -> usize {
        self.layout.phase_count()
    }

    fn group_out(&self) -> usize {
        self.geometry.out_channels() / self.geometry.groups()
    }

    /// `[rows, columns]` of one bin's matrix for a spectrum of `kind`. Rows of input and
    /// output-gradient spectra are (sample, tile) pairs.
    pub fn spectrum_matrix(&self, kind: SpectrumKind) -> [usize; 2] {
        self.layout.spectrum_matrix(&self.geometry, kind)
    }

    /// Complex values in a spectrum of `kind`: `bins * rows * columns`.
    pub fn spectrum_len(&self, kind: SpectrumKind) -> usize {
        let [rows, cols] = self.spectrum_matrix(kind);
        self.bins() * rows * cols
    }

    /// The scale of the data spectra (input and output gradient): `1 / points` of the
    /// transform, so that no bin exceeds the largest value of its tile and an f32 input
    /// near `f32::MAX` does not overflow where its direct convolution would not. Weight
    /// spectra are unscaled; products of one data spectrum with a weight spectrum then carry
    /// exactly the inverse transform's `1 / points`, and the weight gradient's product of two
    /// data spectra one such factor too many.
    fn data_scale(&self) -> T {
        T::one() / self.transform_points()
    }

    /// Points of the transform.
    fn transform_points(&self) -> T {
        T::from_usize(self.layout.points()).expect("bounded by the spectral budget")
    }

    /// Splits a phase-image index into its phase indices along the three axes.
    fn phase_index(&self, phase: usize) -> [usize; 3] {
        unflatten(phase, self.phases.each_ref().map(Vec::len))
    }

    /// The two leading entries of a three-axis size.
    fn leading(size: [usize; 3]) -> [usize; 2] {
        [size[0], size[1]]
    }

    /// Calls `visit(image_row, input_row, run)` for each row of the polyphase image of
    /// `phase` that tile `tile` reads: `image_row` is the row's offset in a transform image,
    /// `input_row` the offset of its input row in one channel, and `run` places the row's
    /// samples.
    fn for_each_source_row(
        &self,
        phase: usize,
        tile: usize,
        mut visit: impl FnMut(usize, usize, SourceRun),
    ) {
        let p = self.phase_index(phase);
        let origin = self.tile_origin(tile);
        let span = self.layout.span;
        let fft = self.layout.fft;
        let input = self.geometry.spatial(|a| a.input());
        let columns = self.sources[2][p[2]].run(origin[2], span[2]);
        for (u0, i0) in self.sources[0][p[0]].window(origin[0], span[0]) {
            for (u1, i1) in self.sources[1][p[1]].window(origin[1], span[1]) {
                visit(
                    offset([u0, u1, 0], fft),
                    offset([i0, i1, 0], input),
                    columns,
                );
            }
        }
    }

    /// Spectrum of the input `x` (`[batch, in_channels, spatial...]`, row-major).
    pub fn input_spectrum(&self, x: &[T]) -> Vec<Complex<T>> {
        check_len("x", &self.geometry.input_shape(), x.len()).unwrap_or_else(|e| panic!("{e}"));
        let channels = self.geometry.in_channels();
        let map_len: usize = self.geometry.spatial(|a| a.input()).iter().product();
        let phases = self.phase_count();
        let tiles = self.tile_count();
        self.fft.forward(
            x.len() / map_len * tiles * phases,
            channels * phases,
            Self::leading(self.layout.span),
            self.data_scale(),
            |image, buffer| {
                let phase = image % phases;
                let c = image / phases % channels;
                let tile = image / (phases * channels) % tiles;
                let n = image / (phases * channels * tiles);
                let channel = &x[(n * channels + c) * map_len..][..map_len];
                self.for_each_source_row(phase, tile, |image_row, input_row, run| {
                    run.gather(&mut buffer[image_row..], &channel[input_row..]);
                });
            },
        )
    }

    /// Spectrum of the weight (`[out_channels, in_channels / groups, kernel...]`, row-major).
    pub fn weight_spectrum(&self, weight: &[T]) -> Vec<Complex<T>> {
        check_len("weight", &self.geometry.weight_shape(), weight.len())
            .unwrap_or_else(|e| panic!("{e}"));
        let dft = self.kernel_dft();
        self.weight_spectrum_by(weight, dft.pays(self.kernels()))
    }

    /// [`SpectralConv::weight_spectrum`] by the kernels' matrix products or by their FFTs.
    fn weight_spectrum_by(&self, weight: &[T], matrices: bool) -> Vec<Complex<T>> {
        let filled = Self::leading(self.geometry.spatial(|a| a.phase_kernel()));
        if matrices {
            return self.kernel_dft().spectra(weight);
        }
        let taps = self.taps();
        let phases = self.phase_count();
        self.fft.forward(
            self.kernels() * phases,
            self.spectrum_matrix(SpectrumKind::Weight)[1],
            filled,
            T::one(),
            |image, buffer| {
                let kernel = &weight[image / phases * taps..][..taps];
                for &(tap, place) in &self.tap_places[image % phases] {
                    buffer[place] = kernel[tap];
                }
            },
        )
    }

    /// Taps per kernel.
    fn taps(&self) -> usize {
        self.geometry.spatial(|a| a.kernel()).iter().product()
    }

    /// Kernels of the weight: output channels times input channels per group.
    fn kernels(&self) -> usize {
        self.geometry.out_channels() * self.geometry.in_channels() / self.geometry.groups()
    }

    /// The weight's spectrum and gradient taps as matrix products ([`KernelDft`]).
    fn kernel_dft(&self) -> KernelDft<'_, T> {
        let corner = Self::leading(self.geometry.spatial(|a| a.phase_kernel()));
        KernelDft::new(&self.fft, &self.tap_places, self.taps(), corner)
    }

    /// Spectrum of the output gradient (`[batch, out_channels, output...]`, row-major).
    pub fn output_grad_spectrum(&self, output_grad: &[T]) -> Vec<Complex<T>> {
        check_len(
            "output_grad",
            &self.geometry.output_shape(),
            output_grad.len(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let channels = self.geometry.out_channels();
        let output = self.geometry.spatial(|a| a.output());
        let map_len: usize = output.iter().product();
        let tiles = self.tile_count();
        let fft = self.layout.fft;
        self.fft.forward(
            output_grad.len() / map_len * tiles,
            channels,
            Self::leading(self.layout.tile),
            self.data_scale(),
            |image, buffer| {
                let f = image % channels;
                let tile = image / channels % tiles;
                let n = image / (channels * tiles);
                let map = &output_grad[(n * channels + f) * map_len..][..map_len];
                let (origin, extent) = self.tile_box(tile);
                for_each_row(Self::leading(extent), |i0, i1| {
                    let src = offset([origin[0] + i0, origin[1] + i1, origin[2]], output);
                    buffer[offset([i0, i1, 0], fft)..][..extent[2]]
                        .copy_from_slice(&map[src..][..extent[2]]);
                });
            },
        )
    }

    /// Forward identity: `y = x * w` (cross-correlation) from the two spectra, without bias.
    /// Returns `[batch, out_channels, output...]`.
    pub fn forward(&self, input: &[Complex<T>], weight: &[Complex<T>]) -> Vec<T> {
        let [batch, in_cols] = self.spectrum_matrix(SpectrumKind::Input);
        let [out_channels, weight_cols] = self.spectrum_matrix(SpectrumKind::Weight);
        let out = self.group_out();
        let product = BinGemm {
            m: batch,
            n: out,
            k: weight_cols,
            groups: self.geometry.groups(),
            dst: MatrixLayout::new(out_channels, 1, out),
            lhs: MatrixLayout::new(in_cols, 1, weight_cols),
            rhs: MatrixLayout::new(1, weight_cols, out * weight_cols),
            conj_lhs: false,
            conj_rhs: true,
        }
        .run(
            self.bins(),
            input,
            batch * in_cols,
            weight,
            out_channels * weight_cols,
            batch * out_channels,
        );
        let output = self.geometry.spatial(|a| a.output());
        let map_len: usize = output.iter().product();
        let tiles = self.tile_count();
        let fft = self.layout.fft;
        let mut y = memory::filled::<T>(self.geometry.output_shape().iter().product());
        self.fft.inverse(
            &product,
            batch * out_channels,
            Self::leading(self.layout.tile),
            T::one(),
            &mut y,
            map_len,
            tiles,
            |map, tile| (map / out_channels * tiles + tile) * out_channels + map % out_channels,
            |tile, image, map| {
                let (origin, extent) = self.tile_box(tile);
                for_each_row(Self::leading(extent), |i0, i1| {
                    let dst = offset([origin[0] + i0, origin[1] + i1, origin[2]], output);
                    map[dst..][..extent[2]]
                        .copy_from_slice(&image[offset([i0, i1, 0], fft)..][..extent[2]]);
                });
            },
        );
        y
    }

    /// Input-gradient identity: `dx` from the spectra of `dy` and `w`.
    /// Returns `[batch, in_channels, spatial...]`.
    pub fn input_grad(&self, output_grad: &[Complex<T>], weight: &[Complex<T>]) -> Vec<T> {
        let [batch, in_cols] = self.spectrum_matrix(SpectrumKind::Input);
        let [out_channels, weight_cols] = self.spectrum_matrix(SpectrumKind::Weight);
        let out = self.group_out();
        let product = BinGemm {
            m: batch,
            n: weight_cols,
            k: out,
            groups: self.geometry.groups(),
            dst: MatrixLayout::new(in_cols, 1, weight_cols),
            lhs: MatrixLayout::new(out_channels, 1, out),
            rhs: MatrixLayout::new(weight_cols, 1, out * weight_cols),
            conj_lhs: false,
            conj_rhs: false,
        }
        .run(
            self.bins(),
            output_grad,
            batch * out_channels,
            weight,
            out_channels * weight_cols,
            batch * in_cols,
        );
        let channels = self.geometry.in_channels();
        let map_len: usize = self.geometry.spatial(|a| a.input()).iter().product();
        let phases = self.phase_count();
        let tiles = self.tile_count();
        let mut dx = memory::filled::<T>(self.geometry.input_shape().iter().product());
        self.fft.inverse(
            &product,
            batch * in_cols,
            Self::leading(self.layout.span),
            T::one(),
            &mut dx,
            map_len,
            tiles * phases,
            |map, j| {
                let (n, c) = (map / channels, map % channels);
                ((n * tiles + j / phases) * channels + c) * phases + j % phases
            },
            |j, image, channel| {
                // Overlap-add: neighbouring tiles' contributions overlap by the kernel.
                self.for_each_source_row(j % phases, j / phases, |image_row, input_row, run| {
                    run.scatter_add(&image[image_row..], &mut channel[input_row..]);
                });
            },
        );
        dx
    }

    /// Weight-gradient identity: `dw` from the spectra of `dy` and `x`.
    /// Returns `[out_channels, in_channels / groups, kernel...]`.
    pub fn weight_grad(&self, output_grad: &[Complex<T>], input: &[Complex<T>]) -> Vec<T> {
        let [batch, in_cols] = self.spectrum_matrix(SpectrumKind::Input);
        let [out_channels, weight_cols] = self.spectrum_matrix(SpectrumKind::Weight);
        let out = self.group_out();
        let product = BinGemm {
            m: out,
            n: weight_cols,
            k: batch,
            groups: self.geometry.groups(),
            dst: MatrixLayout::new(weight_cols, 1, out * weight_cols),
            lhs: MatrixLayout::new(1, out_channels, out),
            rhs: MatrixLayout::new(in_cols, 1, weight_cols),
            conj_lhs: true,
            conj_rhs: false,
        }
        .run(
            self.bins(),
            output_grad,
            batch * out_channels,
            input,
            batch * in_cols,
            out_channels * weight_cols,
        );
        self.weight_taps_by(&product, self.kernel_dft().pays(self.kernels()))
    }

    /// The weight gradient from its per-bin `product`, by the kernels' matrix products or by
    /// inverse FFTs.
    fn weight_taps_by(&self, product: &[Complex<T>], matrices: bool) -> Vec<T> {
        let (taps, phases) = (self.taps(), self.phase_count());
        let mut dw = memory::filled::<T>(self.geometry.weight_shape().iter().product());
        let used = Self::leading(self.geometry.spatial(|a| a.phase_kernel()));
        if matrices {
            self.kernel_dft()
                .taps(product, self.transform_points(), &mut dw);
            return dw;
        }
        self.fft.inverse(
            product,
            self.kernels() * phases,
            used,
            self.transform_points(),
            &mut dw,
            taps,
            phases,
            |kernel, phase| kernel * phases + phase,
            |phase, image, kernel| {
                for &(tap, place) in &self.tap_places[phase] {
                    kernel[tap] = image[place];
                }
            },
        );
        dw
    }
}

/// Adds `bias[f]` to every value of output channel `f` of `y`
/// (`[batch, out_channels, maps of map_len]`).
pub fn add_bias<T: Scalar>(y: &mut [T], bias: &[T], map_len: usize) {
    for (i, map) in y.chunks_exact_mut(map_len).enumerate() {
        let b = bias[i % bias.len()];
        map.iter_mut().for_each(|v| *v = *v + b);
    }
}

/// Bias gradient: the sum of `dy` (`[batch, out_channels, output...]`) per output channel.
pub fn bias_grad<T: Scalar>(output_grad: &[T], out_channels: usize, map_len: usize) -> Vec<T> {
    let mut db = vec![T::default(); out_channels];
    for (i, map) in output_grad.chunks_exact(map_len).enumerate() {
        db[i % out_channels] = map.iter().fold(db[i % out_channels], |acc, &v| acc + v);
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weight's spectrum and the weight gradient's taps come out the same by the kernels'
    /// matrix products as by their transforms, in 1-D, 2-D and 3-D, with stride (polyphase
    /// components), dilation, groups, uneven kernels and several tiles, in f64 and f32.
    #[test]
    fn kernel_matrices_match_the_transforms() {
        use rustfft::num_traits::ToPrimitive;

        fn check<T: Scalar + ToPrimitive, const N: usize>(
            [x, w]: [&[usize]; 2],
            stride: [usize; N],
            dilation: [usize; N],
            groups: usize,
            tolerance: f64,
        ) {
            let padding = dilation.map(|d| (d, d));
            let geometry = ConvGeometry::new(x, w, stride, padding, dilation, groups).unwrap();
            let conv = SpectralConv::<T>::with_tile(geometry, [2, 3, 4]).unwrap();
            let value = |i: usize| {
                T::from_usize(i * 7919 % 1000).unwrap() / T::from_usize(500).unwrap() - T::one()
            };
            let len = geometry.weight_shape().iter().product();
            let weight: Vec<T> = (0..len).map(value).collect();
            let spectra = [true, false].map(|matrices| conv.weight_spectrum_by(&weight, matrices));
            let product: Vec<Complex<T>> = (0..spectra[1].len())
                .map(|i| Complex::new(value(i), value(3 * i + 1)))
                .collect();
            let taps = [true, false].map(|matrices| conv.weight_taps_by(&product, matrices));
            let magnitude = |v: Complex<T>| v.norm_sqr().to_f64().unwrap().sqrt();
            let largest = |values: Vec<f64>| values.into_iter().fold(0.0, f64::max);
            let real = |t: &[T]| {
                t.iter()
                    .map(|&v| Complex::new(v, T::zero()))
                    .collect::<Vec<_>>()
            };
            for (name, [by_matrices, by_transforms]) in [
                ("spectrum", spectra.clone()),
                ("taps", taps.each_ref().map(|t| real(t))),
            ] {
                assert_eq!(by_matrices.len(), by_transforms.len(), "{name}");
                let error = largest(
                    by_matrices
                        .iter()
                        .zip(&by_transforms)
                        .map(|(a, b)| magnitude(a - b))
                        .collect(),
                );
                let scale = largest(by_transforms.iter().map(|&v| magnitude(v)).collect());
                assert!(
                    error <= tolerance * scale,
                    "{name} of {x:?} by {w:?}, stride {stride:?}, dilation {dilation:?}: {error} \
                     against values up to {scale}"
                );
            }
        }
        let dense: [&[usize]; 2] = [&[2, 4, 9, 7], &[6, 4, 3, 3]];
        let strided: [&[usize]; 2] = [&[1, 4, 11, 10], &[4, 2, 3, 4]];
        check::<f64, 2>(dense, [1, 1], [1, 1], 1, 1e-12);
        check::<f64, 2>(strided, [2, 3], [1, 1], 2, 1e-12);
        check::<f64, 2>([&[1, 3, 12, 12], &[5, 3, 3, 2]], [1, 1], [2, 3], 1, 1e-12);
        check::<f64, 1>([&[2, 3, 40], &[4, 3, 5]], [2], [1], 1, 1e-12);
        check::<f64, 3>(
            [&[1, 2, 6, 7, 8], &[3, 2, 2, 3, 3]],
            [1, 2, 1],
            [1, 1, 2],
            1,
            1e-12,
        );
        check::<f32, 2>(dense, [1, 1], [1, 1], 1, 2e-6);
        check::<f32, 2>(strided, [2, 3], [1, 1], 2, 2e-6);
    }

    fn square_gemm(lhs_row_stride: usize) -> BinGemm {
        BinGemm {
            m: 2,
            n: 2,
            k: 2,
            groups: 1,
            dst: MatrixLayout::new(2, 1, 0),
            lhs: MatrixLayout::new(lhs_row_stride, 1, 0),
            rhs: MatrixLayout::new(2, 1, 0),
            conj_lhs: false,
            conj_rhs: false,
        }
    }

    /// `product` of one bin of made-up values (operands of `lhs_len` and `rhs_len`) against
    /// the grouped product by its definition, to `tolerance` relative to the largest value.
    fn check_against_definition(product: &BinGemm, lhs_len: usize, rhs_len: usize, tolerance: f64) {
        let value = |i: usize| Complex::new(0.5 * i as f64 - 2.0, 1.0 - 0.25 * (i % 5) as f64);
        let lhs: Vec<_> = (0..lhs_len).map(value).collect();
        let rhs: Vec<_> = (0..rhs_len).map(|i| value(3 * i + 1)).collect();
        let (m, n, k, groups) = (product.m, product.n, product.k, product.groups);
        let got = product.run(1, &lhs, lhs_len, &rhs, rhs_len, m * n * groups);
        let at = |layout: &MatrixLayout, g: usize, row: usize, col: usize| {
            g * layout.group_offset + row * layout.row_stride + col * layout.col_stride
        };
        let operand = |conj: bool, v: Complex<f64>| if conj { v.conj() } else { v };
        let scale = lhs.iter().chain(&rhs).map(|v| v.norm()).fold(0.0, f64::max);
        for g in 0..groups {
            for i in 0..m {
                for j in 0..n {
                    let expected: Complex<f64> = (0..k)
                        .map(|l| {
                            operand(product.conj_lhs, lhs[at(&product.lhs, g, i, l)])
                                * operand(product.conj_rhs, rhs[at(&product.rhs, g, l, j)])
                        })
                        .sum();
                    let error = (got[at(&product.dst, g, i, j)] - expected).norm();
                    assert!(
                        error <= tolerance * scale * scale * k as f64,
                        "group {g}, ({i}, {j}): {} against {expected}",
                        got[at(&product.dst, g, i, j)]
                    );
                }
            }
        }
    }

    /// The loops for products too small for `gemm` (three groups of 2x2 by 2x3 here, both
    /// operands conjugated, the right one stored transposed as a forward pass's weight) give
    /// the grouped product by its definition (in the same order of sums: exactly).
    #[test]
    fn small_products_match_the_definition() {
        let (m, n, k, groups) = (2, 3, 2, 3);
        let product = BinGemm {
            m,
            n,
            k,
            groups,
            dst: MatrixLayout::new(n * groups, 1, n),
            lhs: MatrixLayout::new(k * groups, 1, k),
            rhs: MatrixLayout::new(1, k, n * k),
            conj_lhs: true,
            conj_rhs: true,
        };
        assert!(product.loops_pay() && !product.groups_side_by_side());
        check_against_definition(&product, m * k * groups, k * n * groups, 0.0);
    }

    /// Thin products with wide right operands (two groups) go through `gemm` in panels of
    /// columns, the last one narrower: copied where the operand is stored row by row (an input
    /// gradient's weight), in place where column by column (a forward pass's).
    #[test]
    fn thin_products_in_panels_match_the_definition() {
        let (m, n, k, groups) = (3, 150, 70, 2);
        let panel = RHS_PANEL_ROW_BYTES / std::mem::size_of::<Complex<f64>>();
        assert!(m <= PANELS_UP_TO_ROWS && n > 2 * panel && n % panel != 0);
        for rhs in [
            MatrixLayout::new(n, 1, k * n),
            MatrixLayout::new(1, k, k * n),
        ] {
            let product = BinGemm {
                m,
                n,
                k,
                groups,
                dst: MatrixLayout::new(n * groups, 1, n),
                lhs: MatrixLayout::new(k * groups, 1, k),
                rhs,
                conj_lhs: false,
                conj_rhs: true,
            };
            check_against_definition(&product, m * k * groups, k * n * groups, 1e-15);
        }
    }

    /// The same for 1x1 matrices side by side, a depthwise forward pass's (the loop over
    /// contiguous groups).
    #[test]
    fn depthwise_products_match_the_definition() {
        let (m, groups) = (3, 4);
        let product = BinGemm {
            m,
            n: 1,
            k: 1,
            groups,
            dst: MatrixLayout::new(groups, 1, 1),
            lhs: MatrixLayout::new(groups, 1, 1),
            rhs: MatrixLayout::new(1, 1, 1),
            conj_lhs: false,
            conj_rhs: true,
        };
        assert!(product.loops_pay() && product.groups_side_by_side());
        let value = |i: usize| Complex::new(0.5 * i as f64 - 2.0, 1.0 - 0.25 * (i % 5) as f64);
        let lhs: Vec<_> = (0..m * groups).map(value).collect();
        let rhs: Vec<_> = (0..groups).map(|i| value(7 * i + 2)).collect();
        let got = product.run(1, &lhs, lhs.len(), &rhs, rhs.len(), m * groups);
        for (i, (got, x)) in got.iter().zip(&lhs).enumerate() {
            assert_eq!(
                *got,
                x * rhs[i % groups].conj(),
                "({}, group {})",
                i / groups,
                i % groups
            );
        }
    }

    fn zeros(len: usize) -> Vec<Complex<f32>> {
        vec![Complex::default(); len]
    }

    #[test]
    fn matrices_inside_their_bins_multiply() {
        let product = square_gemm(2).run(3, &zeros(12), 4, &zeros(12), 4, 4);
        assert_eq!(product.len(), 12);
    }

    /// A left matrix one element longer than its bin is refused before any unsafe product.
    #[test]
    #[should_panic(expected = "exceed the bin lengths (4, 3, 4)")]
    fn a_matrix_beyond_its_bin_is_refused() {
        square_gemm(2).run(1, &zeros(3), 3, &zeros(4), 4, 4);
    }

    /// A stride whose address arithmetic would wrap in release builds is refused too.
    #[test]
    #[should_panic(expected = "exceed the bin lengths")]
    fn a_layout_whose_arithmetic_overflows_is_refused() {
        square_gemm(usize::MAX).run(1, &zeros(4), 4, &zeros(4), 4, 4);
    }
}
