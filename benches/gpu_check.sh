#!/usr/bin/env bash
# Everything a GPU measurement needs, in one device call (time on the lent GPU machine is
# minutes): the training step, its stages and its memory on the device (`gpu_bench`), 3-D
# training steps (`gpu_bench --volume`), strided and dilated layers, long causal 1-D filters
# (`long_conv1d`), PyTorch's cuDNN and torch.fft on the same GPU, and a
# correctness check of the device path (`tests/parity.rs`).
#
# Build here and pack (`bash benches/gpu_pack.sh`; `cpu` for the criterion benches `conv`
# and `stages` in place of `long_conv1d`, `tuned` for `tuned_check`; about 4 minutes warm,
# 51 MiB packed with `cpu`, 50 with `tuned`), then run there (see ../shared/gpu/README.md):
#   bash .device/run.sh bash benches/gpu_check.sh      (carry [".device"])
# About 8 minutes in all.
# GPU_CHECK_SECONDS (default 170) bounds the 2-D benchmark (its eight geometries with
# `--stages --memory` took more than 120 s on an H200); the 3-D, strided, dilated and 1-D ones,
# the peer, `tuned_check` and the check add at most seven minutes. A call may run 10 minutes:
# with the CPU benches packed, lower GPU_CHECK_SECONDS (120, say).
set -u
cd "$(dirname "$0")/.."
timeout "${GPU_CHECK_SECONDS:-170}" gpu_bench --device wgpu --k 3 5 7 15 --reps 5 --warmup 5 \
  --stages --memory
timeout 60 gpu_bench --device wgpu --volume --size 32 --k 3 5 7 --batch 4 --channels 32 \
  --reps 3 --warmup 2 --settle-seconds 0
timeout 45 gpu_bench --device wgpu --size 64 --k 3 7 --stride 2 --reps 5 --warmup 3 \
  --settle-seconds 0
timeout 45 gpu_bench --device wgpu --size 64 --k 3 5 --dilation 2 --reps 5 --warmup 3 \
  --settle-seconds 0
if command -v long_conv1d > /dev/null; then
  for taps in 256 1024; do
    timeout 30 long_conv1d --device wgpu --kernel "$taps" --reps 3 --deadline 5
  done
fi
timeout 30 python3 .device/torch_peer.py cuda --size 64 128 --k 3 5 7 15
# `Tuned` against `Auto`'s GPU rule on small and thin layers; each first call compiles both
# algorithms' kernels (0.2-7 s a layer on lavapipe), so the rows it reaches in a minute.
if command -v tuned_check > /dev/null; then
  timeout 60 tuned_check --device wgpu --reps 3
fi
# 30 random geometries took 64 s on an H100 (each compiles its own kernels).
FFTCONV_WGPU_CASES=30 FFTCONV_WGPU_SEED=21 timeout 90 parity \
  wgpu_f32_matches_an_f64_reference_on_random_geometries --nocapture 2>&1 \
  | grep -aE "largest|test result|panicked"
# f64 on the device (the tile kernels' turns from series; 10 s on lavapipe).
timeout 60 parity wgpu_f64_matches_an_f64_reference_on_random_geometries --nocapture 2>&1 \
  | grep -aE "largest|test result|panicked"
# The CPU side of the same machine (16 Xeon cores), where the packed binaries include the
# criterion benches `conv` (benches/conv.rs) and `stages` (the kernel crate's): this crate
# against PyTorch's oneDNN at 2 and 16 threads, then the spectral stages alone.
if command -v conv > /dev/null; then
  FFTCONV_BENCH=conv FFTCONV_FILTER='flex/train_step/n16_c64_f64_64x64_k(3|5|7|15)/fft' \
    timeout 120 bash benches/cpu_vs_torch.sh 2 .device/torch_peer.py
  FFTCONV_BENCH=conv FFTCONV_FILTER='flex/train_step/n16_c64_f64_64x64_k((3|5|7)/|15/fft)' \
    timeout 90 bash benches/cpu_vs_torch.sh 16 .device/torch_peer.py
fi
if command -v stages > /dev/null; then
  for threads in 2 16; do
    echo "== stages, kernel 5, $threads threads"
    FFTCONV_BENCH_KERNEL=5 RAYON_NUM_THREADS=$threads taskset -c "0-$((threads - 1))" \
      timeout 40 stages --bench 2>&1 | grep -E '^stages|time:'
  done
fi
