#!/usr/bin/env bash
# Builds and packs everything `benches/gpu_check.sh` runs on a lent GPU machine, into
# `.device/` (see ../shared/gpu/README.md): `gpu_bench`, the `parity` tests and
# `long_conv1d`; with `cpu`, the criterion benches `conv` and `stages` instead of
# `long_conv1d`, for the CPU comparisons on the GPU machine's 16 cores; with `tuned`,
# `tuned_check` instead (`Tuned` against `Auto` on the GPU). Each packed example is about
# 17 MiB: a fourth does not fit the 64 MiB a call carries. Then one device call:
#   bash .device/run.sh bash benches/gpu_check.sh      (carry [".device"])
# usage: bash benches/gpu_pack.sh [cpu|tuned]
set -euo pipefail
case "${1:-}" in
  "" | cpu | tuned) ;;
  *)
    echo "usage: bash benches/gpu_pack.sh [cpu|tuned]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/burn-fftconv-target}
workspace=(--workspace --features burn-fftconv/wgpu)
# The newest build of a test or bench target (cargo names them `NAME-HASH`).
newest() {
  ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -1
}
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cargo test --release "${workspace[@]}" --test parity --no-run
cp "$(newest parity)" "$staging/parity"
# The newest build of an example, into the staging directory.
example() {
  cargo build --release "${workspace[@]}" --example "$1"
  cp "$CARGO_TARGET_DIR/release/examples/$1" "$staging/"
}
example gpu_bench
binaries=(gpu_bench parity)
case "${1:-}" in
  cpu)
    cargo bench "${workspace[@]}" --bench conv --no-run
    cargo bench -p fftconv-kernels --bench stages --no-run
    cp "$(newest conv)" "$staging/conv"
    cp "$(newest stages)" "$staging/stages"
    binaries+=(conv stages)
    ;;
  tuned)
    example tuned_check
    binaries+=(tuned_check)
    ;;
  *)
    example long_conv1d
    binaries+=(long_conv1d)
    ;;
esac
rm -rf .device/bin
../shared/gpu/pack.sh "${binaries[@]/#/$staging/}"
# pack.sh compresses fast; the strongest setting is what makes them fit.
for packed in .device/bin/*.xz; do
  xz -dc "$packed" | xz -9e -T0 > "$packed.strong"
  mv "$packed.strong" "$packed"
done
size=$(du -sm .device | cut -f1)
echo "packed ${binaries[*]}: $size MiB in .device/"
if [ "$size" -ge 64 ]; then
  echo "more than the 64 MiB a device call carries" >&2
  exit 1
fi
