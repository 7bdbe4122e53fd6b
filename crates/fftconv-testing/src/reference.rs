//! The convolution by its definition, term by term in f64: the reference every fast path is
//! checked against.

use fftconv_kernels::ConvGeometry;

/// The row-major multi-index of `flat` in an array of `dims`.
fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut index = vec![0; dims.len()];
    for (i, &n) in index.iter_mut().zip(dims).rev() {
        *i = flat % n;
        flat /= n;
    }
    index
}

/// Calls `visit(x_index, w_index, y_index)` for every product term of the convolution (of
/// any rank), by the definition `y[n,f,o] = sum x_pad[n, c, o*s + a*d] w[f, c', a]` per axis.
fn for_each_term(g: &ConvGeometry, mut visit: impl FnMut(usize, usize, usize)) {
    let axes = g.axes();
    let sizes = |size: fn(&fftconv_kernels::AxisGeometry) -> usize| -> Vec<usize> {
        axes.iter().map(size).collect()
    };
    let (input, kernel, output) = (
        sizes(|a| a.input()),
        sizes(|a| a.kernel()),
        sizes(|a| a.output()),
    );
    let volume = |dims: &[usize]| dims.iter().product::<usize>();
    let (map_in, taps, map_out) = (volume(&input), volume(&kernel), volume(&output));
    let (batch, in_ch, out_ch) = (g.batch(), g.in_channels(), g.out_channels());
    let group_in = in_ch / g.groups();
    let group_out = out_ch / g.groups();
    // The input position each (output position, tap) pair reads, or `None` in the padding.
    let sources: Vec<Option<usize>> = (0..map_out * taps)
        .map(|pair| {
            let (o, t) = (unravel(pair / taps, &output), unravel(pair % taps, &kernel));
            axes.iter().enumerate().try_fold(0, |flat, (d, a)| {
                let position =
                    (o[d] * a.stride() + t[d] * a.dilation()) as isize - a.pad_begin() as isize;
                (0..input[d] as isize)
                    .contains(&position)
                    .then(|| flat * input[d] + position as usize)
            })
        })
        .collect();
    for n in 0..batch {
        for f in 0..out_ch {
            for cg in 0..group_in {
                let c = f / group_out * group_in + cg;
                for (pair, source) in sources.iter().enumerate() {
                    if let Some(position) = source {
                        let (o, t) = (pair / taps, pair % taps);
                        visit(
                            (n * in_ch + c) * map_in + position,
                            (f * group_in + cg) * taps + t,
                            (n * out_ch + f) * map_out + o,
                        );
                    }
                }
            }
        }
    }
}

/// `[y, dx, dw]` by the definition (no bias).
pub fn by_definition(g: &ConvGeometry, x: &[f64], w: &[f64], dy: &[f64]) -> [Vec<f64>; 3] {
    let mut y = vec![0.0; g.output_shape().iter().product()];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for_each_term(g, |xi, wi, yi| {
        y[yi] += x[xi] * w[wi];
        dx[xi] += dy[yi] * w[wi];
        dw[wi] += dy[yi] * x[xi];
    });
    [y, dx, dw]
}
