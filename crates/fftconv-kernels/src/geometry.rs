//! Convolution geometry: validation of shapes and options, and the per-axis polyphase plan
//! that turns a strided, dilated, padded cross-correlation into a stride-1 one.

use core::fmt;

/// Why a convolution geometry was rejected. Each variant names the offending argument and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// A tensor does not have the rank the convolution needs.
    Rank {
        /// The argument (`"x"`, `"weight"`, ...).
        argument: &'static str,
        /// The rank it must have.
        expected: usize,
        /// Its shape as given.
        shape: Vec<usize>,
    },
    /// A dimension that must be positive is zero.
    EmptyDimension {
        /// The argument holding the dimension.
        argument: &'static str,
        /// Its shape as given.
        shape: Vec<usize>,
    },
    /// A stride, dilation or group count is zero.
    Zero {
        /// `"stride"`, `"dilation"` or `"groups"`.
        argument: &'static str,
        /// The value as given.
        value: Vec<usize>,
    },
    /// `groups` does not divide a channel count.
    GroupsDoNotDivide {
        /// The group count.
        groups: usize,
        /// Which channel count: `"input channels"` or `"output channels"`.
        channels_kind: &'static str,
        /// The channel count.
        channels: usize,
    },
    /// The weight's input-channel dimension does not match `x`'s channels divided by `groups`.
    ChannelMismatch {
        /// Channels of `x`.
        input_channels: usize,
        /// The group count.
        groups: usize,
        /// `weight.dims()[1]`.
        weight_in_channels: usize,
    },
    /// The dilated kernel does not fit in the padded input along an axis.
    KernelTooLarge {
        /// `"depth"`, `"height"` or `"width"` (`"length"` in one dimension).
        axis: &'static str,
        /// `dilation * (kernel - 1) + 1`.
        dilated_kernel: usize,
        /// `input + padding_begin + padding_end`.
        padded_input: usize,
    },
    /// The bias length differs from the number of output channels.
    BiasLength {
        /// The number of output channels.
        expected: usize,
        /// The bias length.
        got: usize,
    },
    /// A size the convolution derives from its arguments does not fit in `usize`.
    Overflow {
        /// The argument the size comes from.
        argument: &'static str,
        /// What the size counts.
        quantity: &'static str,
        /// The factors or terms that overflow.
        operands: Vec<usize>,
    },
    /// The FFT path would need a transform or spectrum larger than the
    /// [`SpectralBudget`](crate::SpectralBudget) allows.
    OverBudget {
        /// `"transform"` (points of one transform) or `"spectrum"` (complex values).
        quantity: &'static str,
        /// The size needed (saturated at `u128::MAX`).
        size: u128,
        /// The budget's limit for it.
        limit: usize,
    },
    /// A buffer's length differs from the product of the shape it claims.
    BufferLength {
        /// The argument.
        argument: &'static str,
        /// The length the shape implies.
        expected: usize,
        /// The length given.
        got: usize,
    },
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rank {
                argument,
                expected,
                shape,
            } => write!(
                f,
                "`{argument}` must have rank {expected}, got shape {shape:?} (rank {})",
                shape.len()
            ),
            Self::EmptyDimension { argument, shape } => {
                write!(f, "`{argument}` has an empty dimension: shape {shape:?}")
            }
            Self::Zero { argument, value } => {
                write!(f, "`{argument}` must be non-zero, got {value:?}")
            }
            Self::GroupsDoNotDivide {
                groups,
                channels_kind,
                channels,
            } => write!(
                f,
                "`groups` = {groups} does not divide the {channels} {channels_kind}"
            ),
            Self::ChannelMismatch {
                input_channels,
                groups,
                weight_in_channels,
            } => write!(
                f,
                "channel mismatch: `x` has {input_channels} channels and `groups` = {groups}, so \
                 `weight` must have {} input channels per group, but `weight.dims()[1]` = \
                 {weight_in_channels}",
                input_channels / groups
            ),
            Self::KernelTooLarge {
                axis,
                dilated_kernel,
                padded_input,
            } => write!(
                f,
                "the dilated kernel ({dilated_kernel}) is larger than the padded input \
                 ({padded_input}) along the {axis}"
            ),
            Self::BiasLength { expected, got } => write!(
                f,
                "`bias` must have one entry per output channel ({expected}), got length {got}"
            ),
            Self::Overflow {
                argument,
                quantity,
                operands,
            } => write!(
                f,
                "`{argument}`: the {quantity} of {operands:?} does not fit in usize"
            ),
            Self::OverBudget {
                quantity,
                size,
                limit,
            } => write!(
                f,
                "the FFT path would need a {quantity} of {size} values, over the limit of \
                 {limit} (`fftconv_kernels::SpectralBudget`)"
            ),
            Self::BufferLength {
                argument,
                expected,
                got,
            } => write!(
                f,
                "`{argument}` holds {got} values but its shape implies {expected}"
            ),
        }
    }
}

impl std::error::Error for GeometryError {}

/// A validated convolution of one, two or three spatial dimensions: input
/// `[batch, channels, spatial...]`, weight `[out, in / groups, kernel...]`, the options of
/// burn's `conv1d`, `conv2d` and `conv3d`.
///
/// Only [`ConvGeometry::new`] makes one, so every value satisfies its checks: positive
/// sizes, a kernel that fits the padded input, and element counts that fit in `usize`. The
/// kernels rely on that for their index arithmetic. Inside, every geometry has three axes:
/// a lower rank's leading axes are unit axes (one sample, one tap, no padding), so the
/// spectral code is written once, for three dimensions.
///
/// ```compile_fail
/// // Private fields: a geometry cannot be written by hand.
/// let hand_built = fftconv_kernels::ConvGeometry {
///     batch: 1,
///     in_channels: 1,
///     out_channels: 1,
///     groups: 1,
///     rank: 2,
///     axes: [fftconv_kernels::ConvGeometry::new(
///         &[1, 1, 1, 1], &[1, 1, 1, 1], [1, 1], [(0, 0); 2], [1, 1], 1,
///     ).unwrap().axes()[0]; 3],
/// };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    rank: usize,
    axes: [AxisGeometry; 3],
}

/// One spatial axis of a validated convolution (see [`ConvGeometry::axes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AxisGeometry {
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
}

impl AxisGeometry {
    /// The axis a lower rank's geometry has in place of a missing one: one sample, one tap.
    const UNIT: Self = Self {
        input: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };

    /// Input length.
    pub fn input(&self) -> usize {
        self.input
    }

    /// Kernel length (undilated).
    pub fn kernel(&self) -> usize {
        self.kernel
    }

    /// Stride.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Dilation.
    pub fn dilation(&self) -> usize {
        self.dilation
    }

    /// Zero padding before the input.
    pub fn pad_begin(&self) -> usize {
        self.pad_begin
    }

    /// Zero padding after the input.
    pub fn pad_end(&self) -> usize {
        self.pad_end
    }

    /// `input + pad_begin + pad_end`.
    pub fn padded_input(&self) -> usize {
        self.input + self.pad_begin + self.pad_end
    }

    /// `dilation * (kernel - 1) + 1`.
    pub fn dilated_kernel(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }

    /// Output length.
    pub fn output(&self) -> usize {
        (self.padded_input() - self.dilated_kernel()) / self.stride + 1
    }

    /// Length of the polyphase sub-kernels: the taps that one phase of the input meets.
    pub fn phase_kernel(&self) -> usize {
        self.dilated_kernel().div_ceil(self.stride)
    }

    /// Length of the polyphase input images the stride-1 correlation needs.
    pub fn phase_image(&self) -> usize {
        self.output() + self.phase_kernel() - 1
    }

    /// The number of [`AxisGeometry::phases`], counted without listing them: taps fall on
    /// the multiples of `gcd(dilation, stride)` modulo `stride`, the first `kernel` of them.
    pub fn phase_count(&self) -> usize {
        let (mut a, mut b) = (self.dilation, self.stride);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        self.kernel.min(self.stride / a)
    }

    /// The residues `a * dilation mod stride` that kernel taps fall on, in increasing order.
    /// Residues that no tap meets are left out: their input samples never reach the output.
    pub fn phases(&self) -> Vec<usize> {
        let mut phases: Vec<usize> = (0..self.kernel.min(self.stride))
            .map(|tap| (tap * self.dilation) % self.stride)
            .collect();
        phases.sort_unstable();
        phases.dedup();
        phases
    }

    /// Position in the polyphase image of `phase` that kernel tap `tap` lands on, if the tap
    /// belongs to that phase.
    pub fn tap_in_phase(&self, tap: usize, phase: usize) -> Option<usize> {
        let offset = tap * self.dilation;
        (offset % self.stride == phase).then_some(offset / self.stride)
    }

    /// Positions `u` of the polyphase image of `phase` that hold input samples, and the input
    /// index of the first one; sample `u` is input index `first + (u - start) * stride`.
    pub(crate) fn phase_source(&self, phase: usize) -> PhaseSource {
        let start = self.pad_begin.saturating_sub(phase).div_ceil(self.stride);
        let end = (self.pad_begin + self.input)
            .saturating_sub(phase)
            .div_ceil(self.stride)
            .min(self.phase_image())
            .max(start);
        PhaseSource {
            start,
            end,
            first_input: (start * self.stride + phase).saturating_sub(self.pad_begin),
            stride: self.stride,
        }
    }
}

/// Where a polyphase image takes its samples from the input; see
/// [`AxisGeometry::phase_source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PhaseSource {
    /// First image position holding an input sample.
    pub start: usize,
    /// One past the last such position (equal to `start` when none does).
    pub end: usize,
    /// Input index of position `start`.
    pub first_input: usize,
    /// Input step between consecutive positions.
    pub stride: usize,
}

impl PhaseSource {
    /// The pairs whose image position lies in `origin..origin + len`, with positions counted
    /// from `origin`: the part of the polyphase image that one tile covers.
    pub fn window(self, origin: usize, len: usize) -> impl Iterator<Item = (usize, usize)> {
        let run = self.run(origin, len);
        (0..run.len).map(move |i| (run.image_start + i, run.input_start + i * run.stride))
    }

    /// [`PhaseSource::window`] as one run of evenly spaced input samples, for copies that
    /// move whole rows.
    pub fn run(self, origin: usize, len: usize) -> SourceRun {
        let lo = self.start.max(origin);
        let hi = self.end.min(origin.saturating_add(len)).max(lo);
        SourceRun {
            image_start: lo - origin,
            input_start: self.first_input + (lo - self.start) * self.stride,
            len: hi - lo,
            stride: self.stride,
        }
    }
}

/// Consecutive image positions `image_start..image_start + len` that hold the input samples
/// `input_start`, `input_start + stride`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceRun {
    /// First image position (counted from the window's origin).
    pub image_start: usize,
    /// Input index of the first sample.
    pub input_start: usize,
    /// Number of samples.
    pub len: usize,
    /// Input step between samples.
    pub stride: usize,
}

impl SourceRun {
    /// Copies the run's samples from `input_row` into their positions in `image_row`.
    pub fn gather<T: Copy>(self, image_row: &mut [T], input_row: &[T]) {
        if self.len == 0 {
            return;
        }
        let image = &mut image_row[self.image_start..][..self.len];
        let input = &input_row[self.input_start..];
        if self.stride == 1 {
            image.copy_from_slice(&input[..self.len]);
        } else {
            for (a, b) in image.iter_mut().zip(input.iter().step_by(self.stride)) {
                *a = *b;
            }
        }
    }

    /// Adds the run's positions of `image_row` into their samples of `input_row`: the
    /// adjoint of [`SourceRun::gather`].
    pub fn scatter_add<T: Copy + std::ops::Add<Output = T>>(
        self,
        image_row: &[T],
        input_row: &mut [T],
    ) {
        if self.len == 0 {
            return;
        }
        let image = &image_row[self.image_start..][..self.len];
        let input = &mut input_row[self.input_start..];
        if self.stride == 1 {
            for (b, a) in input.iter_mut().zip(image) {
                *b = *b + *a;
            }
        } else {
            for (b, a) in input.iter_mut().step_by(self.stride).zip(image) {
                *b = *b + *a;
            }
        }
    }
}

fn positive(argument: &'static str, value: &[usize]) -> Result<(), GeometryError> {
    if value.contains(&0) {
        return Err(GeometryError::Zero {
            argument,
            value: value.to_vec(),
        });
    }
    Ok(())
}

/// Folds `operands` with `combine` from `start`, or names the overflow: the one checked fold
/// behind [`checked_sum`] and [`checked_product`].
fn checked_fold<const N: usize>(
    (argument, quantity): (&'static str, &'static str),
    operands: [usize; N],
    start: usize,
    combine: fn(usize, usize) -> Option<usize>,
) -> Result<usize, GeometryError> {
    operands
        .iter()
        .try_fold(start, |acc, &operand| combine(acc, operand))
        .ok_or_else(|| GeometryError::Overflow {
            argument,
            quantity,
            operands: operands.to_vec(),
        })
}

fn checked_sum<const N: usize>(
    argument: &'static str,
    quantity: &'static str,
    terms: [usize; N],
) -> Result<usize, GeometryError> {
    checked_fold((argument, quantity), terms, 0, usize::checked_add)
}

fn checked_product<const N: usize>(
    argument: &'static str,
    quantity: &'static str,
    factors: [usize; N],
) -> Result<usize, GeometryError> {
    checked_fold((argument, quantity), factors, 1, usize::checked_mul)
}

/// `shape`, checked to have `rank` dimensions, none of them empty.
fn ranked<'a>(
    argument: &'static str,
    shape: &'a [usize],
    rank: usize,
) -> Result<&'a [usize], GeometryError> {
    if shape.len() != rank {
        return Err(GeometryError::Rank {
            argument,
            expected: rank,
            shape: shape.to_vec(),
        });
    }
    if shape.contains(&0) {
        return Err(GeometryError::EmptyDimension {
            argument,
            shape: shape.to_vec(),
        });
    }
    Ok(shape)
}

/// The names of the spatial axes of a convolution of `rank` dimensions, as errors say them.
pub(crate) fn axis_names(rank: usize) -> &'static [&'static str] {
    match rank {
        1 => &["length"],
        2 => &["height", "width"],
        _ => &["depth", "height", "width"],
    }
}

impl ConvGeometry {
    /// Validates the shapes of `x` (`[batch, channels, spatial...]`) and `weight`
    /// (`[out_channels, channels / groups, kernel...]`) against the options, one entry per
    /// spatial axis (`N` of 1, 2 or 3), with the semantics of burn's `conv1d`, `conv2d` and
    /// `conv3d`.
    pub fn new<const N: usize>(
        x_shape: &[usize],
        weight_shape: &[usize],
        stride: [usize; N],
        padding: [(usize, usize); N],
        dilation: [usize; N],
        groups: usize,
    ) -> Result<Self, GeometryError> {
        const { assert!(N >= 1 && N <= 3, "convolutions have 1, 2 or 3 spatial axes") };
        let x = ranked("x", x_shape, N + 2)?;
        let weight = ranked("weight", weight_shape, N + 2)?;
        let (batch, in_channels) = (x[0], x[1]);
        let (out_channels, weight_in_channels) = (weight[0], weight[1]);
        positive("stride", &stride)?;
        positive("dilation", &dilation)?;
        if groups == 0 {
            return Err(GeometryError::Zero {
                argument: "groups",
                value: vec![groups],
            });
        }
        for (channels_kind, channels) in [
            ("input channels", in_channels),
            ("output channels", out_channels),
        ] {
            if channels % groups != 0 {
                return Err(GeometryError::GroupsDoNotDivide {
                    groups,
                    channels_kind,
                    channels,
                });
            }
        }
        if in_channels / groups != weight_in_channels {
            return Err(GeometryError::ChannelMismatch {
                input_channels: in_channels,
                groups,
                weight_in_channels,
            });
        }
        let mut axes = [AxisGeometry::UNIT; 3];
        for (i, name) in axis_names(N).iter().enumerate() {
            let axis = AxisGeometry {
                input: x[2 + i],
                kernel: weight[2 + i],
                stride: stride[i],
                dilation: dilation[i],
                pad_begin: padding[i].0,
                pad_end: padding[i].1,
            };
            let padded_input = checked_sum(
                "padding",
                "padded input",
                [axis.input, axis.pad_begin, axis.pad_end],
            )?;
            let dilated_kernel = axis
                .dilation
                .checked_mul(axis.kernel - 1)
                .and_then(|span| span.checked_add(1))
                .ok_or_else(|| GeometryError::Overflow {
                    argument: "dilation",
                    quantity: "dilated kernel (dilation * (kernel - 1) + 1)",
                    operands: vec![axis.dilation, axis.kernel],
                })?;
            if dilated_kernel > padded_input {
                return Err(GeometryError::KernelTooLarge {
                    axis: name,
                    dilated_kernel,
                    padded_input,
                });
            }
            axes[3 - N + i] = axis;
        }
        let geometry = Self {
            batch,
            in_channels,
            out_channels,
            groups,
            rank: N,
            axes,
        };
        // Every element count the kernels index with fits in `usize`: the spatial sizes'
        // product first, then with the two leading dimensions.
        for (argument, quantity, spatial, leading) in [
            (
                "x",
                "element count",
                geometry.spatial(AxisGeometry::input),
                [batch, in_channels],
            ),
            (
                "weight",
                "element count",
                geometry.spatial(AxisGeometry::kernel),
                [out_channels, weight_in_channels],
            ),
            (
                "x",
                "output element count",
                geometry.spatial(AxisGeometry::output),
                [batch, out_channels],
            ),
        ] {
            let map = checked_product(argument, quantity, spatial)?;
            checked_product(argument, quantity, [leading[0], leading[1], map])?;
        }
        Ok(geometry)
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Group count; channels of group `g` only see channels of group `g`.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Spatial dimensions: 1, 2 or 3.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The spatial axes in the order of the tensor dimensions (depth, height, width).
    pub fn axes(&self) -> &[AxisGeometry] {
        &self.axes[3 - self.rank..]
    }

    /// The three axes the kernels work on: [`ConvGeometry::axes`] after unit axes.
    pub(crate) fn axes3(&self) -> [AxisGeometry; 3] {
        self.axes
    }

    /// `size` of each of the three axes of [`ConvGeometry::axes3`].
    pub(crate) fn spatial(&self, size: fn(&AxisGeometry) -> usize) -> [usize; 3] {
        self.axes.map(|a| size(&a))
    }

    /// `leading` then `size` of each spatial axis.
    fn shape(&self, leading: [usize; 2], size: fn(&AxisGeometry) -> usize) -> Vec<usize> {
        leading
            .into_iter()
            .chain(self.axes().iter().map(size))
            .collect()
    }

    /// `[batch, in_channels, spatial...]`.
    pub fn input_shape(&self) -> Vec<usize> {
        self.shape([self.batch, self.in_channels], AxisGeometry::input)
    }

    /// `[out_channels, in_channels / groups, kernel...]`.
    pub fn weight_shape(&self) -> Vec<usize> {
        self.shape(
            [self.out_channels, self.in_channels / self.groups],
            AxisGeometry::kernel,
        )
    }

    /// `[batch, out_channels, output...]`.
    pub fn output_shape(&self) -> Vec<usize> {
        self.shape([self.batch, self.out_channels], AxisGeometry::output)
    }

    /// Checks a bias length against the output channels.
    pub fn check_bias(&self, bias_len: usize) -> Result<(), GeometryError> {
        if bias_len != self.out_channels {
            return Err(GeometryError::BiasLength {
                expected: self.out_channels,
                got: bias_len,
            });
        }
        Ok(())
    }
}

/// Checks that a flat buffer holds exactly the elements of `shape`.
pub fn check_len(argument: &'static str, shape: &[usize], len: usize) -> Result<(), GeometryError> {
    let expected = shape.iter().product();
    if len != expected {
        return Err(GeometryError::BufferLength {
            argument,
            expected,
            got: len,
        });
    }
    Ok(())
}
