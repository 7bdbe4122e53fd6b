//! The crate's one call into `gemm`, behind a check that every element of the three matrices
//! lies inside its slice: the per-bin complex products, the kernels' real maps and the weight
//! gradient's blocks all go through it, so no layout can make the unsafe product read or write
//! out of bounds.

use rustfft::num_traits::One;

/// A matrix operand of [`matmul`]: its values from its first element on, its `[row, column]`
/// strides in elements, and whether to conjugate it (complex values only).
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, E> {
    values: &'a [E],
    strides: [usize; 2],
    conj: bool,
}

impl<'a, E> Operand<'a, E> {
    pub(crate) fn new(values: &'a [E], strides: [usize; 2]) -> Self {
        Self {
            values,
            strides,
            conj: false,
        }
    }

    /// The same operand, conjugated when `conj`.
    pub(crate) fn conjugated(self, conj: bool) -> Self {
        Self { conj, ..self }
    }
}

/// Whether the array of `counts` values along its axes at `strides` (a matrix's rows and
/// columns, and its groups where there are several) lies in `len` elements: strides are
/// non-negative, so its last element is the farthest. Overflowing arithmetic, or a stride
/// beyond `isize` (`gemm`'s), does not fit; an empty array fits anywhere.
pub(crate) fn fits<const N: usize>(len: usize, counts: [usize; N], strides: [usize; N]) -> bool {
    if counts.contains(&0) {
        return true;
    }
    if strides
        .iter()
        .any(|&stride| isize::try_from(stride).is_err())
    {
        return false;
    }
    let last = counts
        .iter()
        .zip(strides)
        .try_fold(0usize, |last, (&count, stride)| {
            last.checked_add((count - 1).checked_mul(stride)?)
        });
    last.is_some_and(|last| last < len)
}

/// `dst = lhs rhs`, or `dst += lhs rhs` when `accumulate`, for `[m, n, k]`: `dst` an `m x n`
/// matrix at `[row, column]` strides, `lhs` `m x k`, `rhs` `k x n`. One thread. Panics unless
/// every element of the three lies inside its slice.
pub(crate) fn matmul<E: Copy + One + 'static>(
    [m, n, k]: [usize; 3],
    (dst, dst_strides): (&mut [E], [usize; 2]),
    lhs: Operand<'_, E>,
    rhs: Operand<'_, E>,
    accumulate: bool,
) {
    assert!(
        fits(dst.len(), [m, n], dst_strides)
            && fits(lhs.values.len(), [m, k], lhs.strides)
            && fits(rhs.values.len(), [k, n], rhs.strides),
        "a {m}x{k} by {k}x{n} product outside its buffers"
    );
    if m == 0 || n == 0 {
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: every element of the three matrices lies inside its slice (asserted above; with
    // `k` 0 nothing is read), `dst` is exclusively borrowed, and one thread writes it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            stride(dst_strides[1]),
            stride(dst_strides[0]),
            accumulate,
            lhs.values.as_ptr(),
            stride(lhs.strides[1]),
            stride(lhs.strides[0]),
            rhs.values.as_ptr(),
            stride(rhs.strides[1]),
            stride(rhs.strides[0]),
            E::one(),
            E::one(),
            false,
            lhs.conj,
            rhs.conj,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex;

    /// A product at transposed and conjugated strides, accumulated onto its destination.
    #[test]
    fn strided_conjugated_products_accumulate() {
        let c = |re: f64, im: f64| Complex::new(re, im);
        // lhs [[1+i, 2], [0, -i]] stored by columns; rhs [[1, i], [2, 1]] stored by rows.
        let lhs = [c(1.0, 1.0), c(0.0, 0.0), c(2.0, 0.0), c(0.0, -1.0)];
        let rhs = [c(1.0, 0.0), c(0.0, 1.0), c(2.0, 0.0), c(1.0, 0.0)];
        let mut dst = [c(1.0, 0.0); 4];
        matmul(
            [2, 2, 2],
            (&mut dst, [2, 1]),
            Operand::new(&lhs, [1, 2]).conjugated(true),
            Operand::new(&rhs, [2, 1]),
            true,
        );
        // conj(lhs) = [[1-i, 2], [0, i]]; conj(lhs) rhs = [[5-i, 3+i], [2i, i]].
        assert_eq!(dst, [c(6.0, -1.0), c(4.0, 1.0), c(1.0, 2.0), c(1.0, 1.0)]);
    }

    #[test]
    #[should_panic(expected = "a 2x2 by 2x3 product outside its buffers")]
    fn a_matrix_past_its_slice_is_refused() {
        let mut dst = [0.0f32; 6];
        matmul(
            [2, 3, 2],
            (&mut dst, [3, 1]),
            Operand::new(&[0.0; 4], [2, 1]),
            Operand::new(&[0.0; 5], [3, 1]),
            false,
        );
    }

    /// A stride beyond `isize` would turn negative in `gemm`; a stride whose offsets wrap
    /// would address memory before the slice.
    #[test]
    fn strides_beyond_isize_or_wrapping_do_not_fit() {
        assert!(fits(4, [2, 2], [2, 1]));
        assert!(!fits(4, [2, 2], [usize::MAX / 2 + 1, 1]));
        assert!(!fits(4, [1, 2], [1, usize::MAX]));
        assert!(!fits(usize::MAX, [4, 1], [isize::MAX as usize, 1]));
        assert!(fits(0, [0, 5], [7, 7]), "an empty matrix fits anywhere");
    }
}
