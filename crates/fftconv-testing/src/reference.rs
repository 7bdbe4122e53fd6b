//! The convolution by its definition, term by term in f64: the reference every fast path is
//! checked against.

use fftconv_kernels::Conv2dGeometry;

/// Calls `visit(x_index, w_index, y_index)` for every product term of the convolution, by
/// the definition `y[n,f,i,j] = sum x_pad[n, c, i*s + a*d, j*s + b*d] w[f, c', a, b]`.
fn for_each_term(g: &Conv2dGeometry, mut visit: impl FnMut(usize, usize, usize)) {
    let [batch, in_ch, h, w] = g.input_shape();
    let [out_ch, group_in, kh, kw] = g.weight_shape();
    let [_, _, oh, ow] = g.output_shape();
    let group_out = out_ch / g.groups();
    let [ah, aw] = g.axes();
    for n in 0..batch {
        for f in 0..out_ch {
            for cg in 0..group_in {
                let c = f / group_out * group_in + cg;
                for i in 0..oh {
                    for j in 0..ow {
                        for a in 0..kh {
                            let row = (i * ah.stride() + a * ah.dilation()) as isize
                                - ah.pad_begin() as isize;
                            if row < 0 || row >= h as isize {
                                continue;
                            }
                            for b in 0..kw {
                                let col = (j * aw.stride() + b * aw.dilation()) as isize
                                    - aw.pad_begin() as isize;
                                if col < 0 || col >= w as isize {
                                    continue;
                                }
                                visit(
                                    ((n * in_ch + c) * h + row as usize) * w + col as usize,
                                    ((f * group_in + cg) * kh + a) * kw + b,
                                    ((n * out_ch + f) * oh + i) * ow + j,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[y, dx, dw]` by the definition (no bias).
pub fn by_definition(g: &Conv2dGeometry, x: &[f64], w: &[f64], dy: &[f64]) -> [Vec<f64>; 3] {
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
