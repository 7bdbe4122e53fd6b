//! Seeded random geometries and data, so that every layer is checked on the same kinds of
//! cases.

use fftconv_kernels::{ConvGeometry, GeometryError};

/// A SplitMix64 stream: small, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Sampler {
    state: u64,
}

impl Sampler {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next_u64() % (high - low + 1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Two independent standard normal values (Box-Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * self.unit()).sin_cos();
        (radius * cos, radius * sin)
    }

    /// `len` standard normal values.
    pub fn normals(&mut self, len: usize) -> Vec<f64> {
        (0..len.div_ceil(2))
            .flat_map(|_| {
                let (a, b) = self.normal_pair();
                [a, b]
            })
            .take(len)
            .collect()
    }

    /// `len` values uniform in `[-1, 1)`.
    pub fn values(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| 2.0 * self.unit() - 1.0).collect()
    }

    /// A valid geometry of `limits.rank` spatial axes within `limits`, covering stride,
    /// dilation, asymmetric padding, groups (depthwise included), odd and even non-square
    /// sizes, batch 1, 1xN kernels and kernels as large as the padded input.
    pub fn geometry(&mut self, limits: &GeometryLimits) -> ConvGeometry {
        loop {
            let groups = self.range(1, limits.groups);
            let depthwise = self.chance(0.15);
            let per_group_in = if depthwise {
                1
            } else {
                self.range(1, limits.channels_per_group)
            };
            let per_group_out = self.range(1, limits.channels_per_group);
            let rank = limits.rank;
            let mut draw = |low: usize, high: usize| -> Vec<usize> {
                (0..rank).map(|_| self.range(low, high)).collect()
            };
            let stride = draw(1, limits.stride);
            let dilation = draw(1, limits.dilation);
            let mut padding: Vec<(usize, usize)> = (0..rank)
                .map(|_| (self.range(0, limits.padding), self.range(0, limits.padding)))
                .collect();
            let mut input: Vec<usize> = (0..rank).map(|_| self.range(1, limits.size)).collect();
            let mut kernel: Vec<usize> = (0..rank).map(|_| self.range(1, limits.kernel)).collect();
            if limits.tiny_map_chance > 0.0 {
                for axis in 0..rank {
                    if self.chance(limits.tiny_map_chance) {
                        let padded = self.range(1, 2);
                        input[axis] = self.range(1, padded);
                        let before = self.range(0, padded - input[axis]);
                        padding[axis] = (before, padded - input[axis] - before);
                        kernel[axis] = self.range(1, padded);
                    }
                }
            }
            if self.chance(limits.full_kernel_chance) {
                let axis = self.range(0, rank - 1);
                let padded = input[axis] + padding[axis].0 + padding[axis].1;
                kernel[axis] = (padded - 1) / dilation[axis] + 1;
            }
            let x: Vec<usize> = [self.range(1, limits.batch), groups * per_group_in]
                .into_iter()
                .chain(input)
                .collect();
            let w: Vec<usize> = [groups * per_group_out, per_group_in]
                .into_iter()
                .chain(kernel)
                .collect();
            let options = Options {
                stride: &stride,
                padding: &padding,
                dilation: &dilation,
                groups,
            };
            let geometry = match rank {
                1 => options.geometry::<1>(&x, &w),
                2 => options.geometry::<2>(&x, &w),
                3 => options.geometry::<3>(&x, &w),
                other => panic!("convolutions have 1, 2 or 3 spatial axes, not {other}"),
            };
            if let Ok(g) = geometry {
                return g;
            }
        }
    }
}

/// Per-axis options of a sampled geometry, before its rank is a type.
struct Options<'a> {
    stride: &'a [usize],
    padding: &'a [(usize, usize)],
    dilation: &'a [usize],
    groups: usize,
}

impl Options<'_> {
    fn geometry<const N: usize>(
        &self,
        x: &[usize],
        w: &[usize],
    ) -> Result<ConvGeometry, GeometryError> {
        let array = |values: &[usize]| -> [usize; N] { values.try_into().expect("one per axis") };
        let padding = self.padding.try_into().expect("one per axis");
        ConvGeometry::new(
            x,
            w,
            array(self.stride),
            padding,
            array(self.dilation),
            self.groups,
        )
    }
}

/// Upper bounds for [`Sampler::geometry`] (lower bounds are 1, or 0 for padding).
#[derive(Debug, Clone)]
pub struct GeometryLimits {
    /// Spatial axes: 1, 2 or 3.
    pub rank: usize,
    /// Batch size.
    pub batch: usize,
    /// Groups.
    pub groups: usize,
    /// Input and output channels per group.
    pub channels_per_group: usize,
    /// Input size per axis.
    pub size: usize,
    /// Kernel size per axis (before the occasional kernel that fills the input).
    pub kernel: usize,
    /// Stride per axis.
    pub stride: usize,
    /// Dilation per axis.
    pub dilation: usize,
    /// Padding per side.
    pub padding: usize,
    /// Chance, per axis, of an input of 1 or 2 samples after padding (the sizes where device
    /// transforms need the most care); 0 keeps the sequence of geometries of earlier versions.
    pub tiny_map_chance: f64,
    /// Chance of a kernel that spans the whole padded input along one axis.
    pub full_kernel_chance: f64,
}

impl Default for GeometryLimits {
    fn default() -> Self {
        Self {
            rank: 2,
            batch: 3,
            groups: 3,
            channels_per_group: 3,
            size: 13,
            kernel: 5,
            stride: 3,
            dilation: 3,
            padding: 3,
            tiny_map_chance: 0.0,
            full_kernel_chance: 0.1,
        }
    }
}
