//! The spectral kernels alone, stage by stage, on one geometry of the layer benches
//! (batch 16, 64 -> 64 channels, 64x64, "same" padding): where the time of a training step
//! goes. Select the kernel size with `FFTCONV_BENCH_KERNEL` (default 7), the channels (in and
//! out) with `FFTCONV_BENCH_CHANNELS` and the image side with `FFTCONV_BENCH_IMAGE` (a deep
//! layer: 512 and 7), and a tile size other than the cost model's with `FFTCONV_BENCH_TILE`
//! (outputs per tile along both axes).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fftconv_kernels::{ConvGeometry, SpectralConv, recycle};
use fftconv_testing::Sampler;

fn stages(c: &mut Criterion) {
    let setting = |name: &str| -> Option<usize> { std::env::var(name).ok()?.parse().ok() };
    let kernel = setting("FFTCONV_BENCH_KERNEL").unwrap_or(7);
    let channels = setting("FFTCONV_BENCH_CHANNELS").unwrap_or(64);
    let image = setting("FFTCONV_BENCH_IMAGE").unwrap_or(64);
    let pad = (kernel / 2, kernel - 1 - kernel / 2);
    let geometry = ConvGeometry::new(
        &[16, channels, image, image],
        &[channels, channels, kernel, kernel],
        [1, 1],
        [pad; 2],
        [1, 1],
        1,
    )
    .expect("valid geometry");
    let plan = match setting("FFTCONV_BENCH_TILE") {
        Some(tile) => SpectralConv::<f32>::with_tile(geometry, [1, tile, tile]),
        None => SpectralConv::<f32>::new(geometry),
    }
    .expect("within the spectral budget");
    eprintln!("tile {:?}, transform {:?}", plan.tile(), plan.fft_size());
    let mut sampler = Sampler::new(1);
    let mut values = |shape: Vec<usize>| -> Vec<f32> {
        sampler
            .values(shape.iter().product())
            .into_iter()
            .map(|v| v as f32)
            .collect()
    };
    let x = values(geometry.input_shape());
    let w = values(geometry.weight_shape());
    let dy = values(geometry.output_shape());
    let xs = plan.input_spectrum(&x);
    let ws = plan.weight_spectrum(&w);
    let dys = plan.output_grad_spectrum(&dy);

    let mut group = c.benchmark_group(format!(
        "stages/n16_c{channels}_f{channels}_{image}x{image}_k{kernel}"
    ));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(2));
    // Each spectrum goes back to the pool, as a training step hands its spectra back: the
    // next one reuses its memory instead of faulting a fresh buffer in (which took 40% of the
    // weight spectrum's time at 512 channels on 7x7).
    group.bench_function("input_spectrum", |b| {
        b.iter(|| recycle(black_box(plan.input_spectrum(&x))))
    });
    group.bench_function("weight_spectrum", |b| {
        b.iter(|| recycle(black_box(plan.weight_spectrum(&w))))
    });
    group.bench_function("output_grad_spectrum", |b| {
        b.iter(|| recycle(black_box(plan.output_grad_spectrum(&dy))))
    });
    group.bench_function("forward", |b| b.iter(|| black_box(plan.forward(&xs, &ws))));
    group.bench_function("input_grad", |b| {
        b.iter(|| black_box(plan.input_grad(&dys, &ws)))
    });
    group.bench_function("weight_grad", |b| {
        b.iter(|| black_box(plan.weight_grad(&dys, &xs)))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
