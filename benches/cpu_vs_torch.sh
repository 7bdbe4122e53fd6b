#!/usr/bin/env bash
# The CPU training step of this crate (criterion, Flex) and of PyTorch (oneDNN, and an FFT
# convolution written with torch.fft) on the same cores, one after the other:
#   benches/cpu_vs_torch.sh [THREADS] [TORCH_PEER]
# THREADS (default 2) pins both to cores 0..THREADS-1; TORCH_PEER is the peer script
# (default ../shared/gpu/torch_peer.py; needs `pip install torch`). N16 64->64 64x64, "same"
# padding, kernels 3 5 7 15, f32. FFTCONV_FILTER replaces the criterion filter (for example to
# leave out the direct step at kernel 15, seconds per step on 2 cores).
#
# On a machine without Rust (the lent GPU machine, 16 cores), set FFTCONV_BENCH to a criterion
# binary of `benches/conv.rs` built here (`cargo bench --workspace --features burn-fftconv/wgpu
# --bench conv --no-run` prints its path; `../shared/gpu/pack.sh` carries it), for example
#   FFTCONV_BENCH=conv bash .device/run.sh bash benches/cpu_vs_torch.sh 16 .device/torch_peer.py
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
peer=${2:-../shared/gpu/torch_peer.py}
cores="0-$((threads - 1))"
filter=${FFTCONV_FILTER:-'flex/train_step/n16_c64_f64_64x64_k(3|5|7|15)/'}
echo "== $(lscpu | sed -n 's/^Model name: *//p'), $threads threads (cores $cores)"
if [ -n "${FFTCONV_BENCH:-}" ]; then
  RAYON_NUM_THREADS=$threads taskset -c "$cores" "$FFTCONV_BENCH" --bench "$filter" 2>&1 \
    | grep -E '^flex|time:'
else
  RAYON_NUM_THREADS=$threads taskset -c "$cores" \
    cargo bench --workspace --features burn-fftconv/wgpu --bench conv -- "$filter" 2>&1 \
    | grep -E '^flex|time:'
fi
taskset -c "$cores" python3 "$peer" cpu --threads "$threads" --size 64 --k 3 5 7 15
