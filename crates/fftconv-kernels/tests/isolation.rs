//! What one call cannot do to another, or one sample to another: a non-finite value stays in
//! its own sample, and concurrent calls (from plain threads and from inside a user's rayon
//! pool) give bitwise the results of a serial run.

use fftconv_kernels::{ConvGeometry, conv, conv_input_grad};
use fftconv_testing::{GeometryLimits, Sampler};

/// Values of sample `n` of an NCHW buffer of `shape`.
fn sample<'a>(values: &'a [f32], shape: &[usize], n: usize) -> &'a [f32] {
    let per_sample: usize = shape[1..].iter().product();
    &values[n * per_sample..][..per_sample]
}

fn random_f32(sampler: &mut Sampler, len: usize) -> Vec<f32> {
    sampler.values(len).into_iter().map(|v| v as f32).collect()
}

/// A NaN or an infinity in one image reaches only that image's outputs (forward) and that
/// image's input gradient (from the output gradient): the transforms and the per-bin
/// products never mix samples. Inside its sample a non-finite value spreads over its tile's
/// outputs (the whole transform), where direct convolution spreads it over the kernel's
/// footprint only.
#[test]
fn a_non_finite_value_stays_in_its_sample() {
    let geometry = ConvGeometry::new(
        &[3, 4, 40, 36],
        &[5, 4, 5, 5],
        [1, 1],
        [(2, 2); 2],
        [1, 1],
        1,
    )
    .expect("a valid geometry");
    let mut sampler = Sampler::new(21);
    let x = random_f32(&mut sampler, geometry.input_shape().iter().product());
    let weight = random_f32(&mut sampler, geometry.weight_shape().iter().product());
    let dy = random_f32(&mut sampler, geometry.output_shape().iter().product());
    let clean_y = conv(geometry, &x, &weight, None).unwrap();
    let clean_dx = conv_input_grad(geometry, &weight, &dy).unwrap();
    for poison in [f32::NAN, f32::INFINITY] {
        let (mut bad_x, mut bad_dy) = (x.clone(), dy.clone());
        // Sample 1, somewhere inside.
        bad_x[sample_offset(geometry.input_shape(), 1) + 123] = poison;
        bad_dy[sample_offset(geometry.output_shape(), 1) + 77] = poison;
        let y = conv(geometry, &bad_x, &weight, None).unwrap();
        let dx = conv_input_grad(geometry, &weight, &bad_dy).unwrap();
        for (result, clean, shape) in [
            (&y, &clean_y, geometry.output_shape()),
            (&dx, &clean_dx, geometry.input_shape()),
        ] {
            for n in [0, 2] {
                assert_eq!(
                    sample(result, &shape, n),
                    sample(clean, &shape, n),
                    "{poison} in sample 1 changed sample {n}"
                );
            }
            assert!(
                sample(result, &shape, 1).iter().any(|v| !v.is_finite()),
                "{poison} in sample 1 vanished"
            );
        }
    }
}

fn sample_offset(shape: Vec<usize>, n: usize) -> usize {
    n * shape[1..].iter().product::<usize>()
}

/// One seeded job: a geometry, its operands, and its result from a serial run.
struct Job {
    geometry: ConvGeometry,
    x: Vec<f32>,
    weight: Vec<f32>,
    y: Vec<f32>,
}

fn jobs(count: usize) -> Vec<Job> {
    let mut sampler = Sampler::new(33);
    let limits = GeometryLimits {
        size: 40,
        ..GeometryLimits::default()
    };
    (0..count)
        .map(|_| {
            let geometry = sampler.geometry(&limits);
            let x = random_f32(&mut sampler, geometry.input_shape().iter().product());
            let weight = random_f32(&mut sampler, geometry.weight_shape().iter().product());
            let y = conv(geometry, &x, &weight, None).unwrap();
            Job {
                geometry,
                x,
                weight,
                y,
            }
        })
        .collect()
}

/// Eight threads run every job concurrently (the plan cache and the thread pool shared),
/// half of them from inside a user's own rayon pool: each result is bitwise the serial one.
#[test]
fn concurrent_calls_match_a_serial_run_bitwise() {
    let jobs = jobs(24);
    let user_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("a rayon pool");
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (jobs, user_pool) = (&jobs, &user_pool);
            scope.spawn(move || {
                for round in 0..2 {
                    for (i, job) in jobs.iter().enumerate().skip(thread % 3) {
                        let run = || conv(job.geometry, &job.x, &job.weight, None).unwrap();
                        let y = if (thread + round) % 2 == 0 {
                            user_pool.install(run)
                        } else {
                            run()
                        };
                        assert!(
                            y == job.y,
                            "thread {thread}, job {i} ({:?}): differs from the serial run",
                            job.geometry
                        );
                    }
                }
            });
        }
    });
}
