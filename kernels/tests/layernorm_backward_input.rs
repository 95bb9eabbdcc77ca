//! `layernorm_backward_input` (a frozen LayerNorm: only `dinp`) against the full
//! `layernorm_backward`: `dinp` bit for bit equal, on every ISA level the kernels are
//! compiled for and 1 and 2 threads, for row counts around the 16-row task blocks and
//! widths below, at and past the 16 accumulator lanes (tails included). The full backward
//! is checked by finite differences in `ops_layernorm.rs`.

mod common;

use common::{randn, rng};
use tokken_kernels::cpu::layernorm::{
    layernorm_backward, layernorm_backward_input, layernorm_forward,
};
use tokken_kernels::cpu::vectorize::{detected_isa, limit_isa, Isa};

#[test]
fn input_only_dinp_equals_full_backward_bitwise() {
    let mut r = rng(41);
    let pools: Vec<_> = [1, 2]
        .into_iter()
        .map(|t| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t);
            (t, pool.build().unwrap())
        })
        .collect();
    for &(n, c) in &[
        (1, 1),
        (3, 7),
        (16, 16),
        (17, 33),
        (40, 768),
        (5, 1000),
        (33, 70),
    ] {
        let mut inp = randn(&mut r, n * c, 2.0);
        // An offset row: large mean, small rstd.
        for v in inp.iter_mut().take(c) {
            *v += 50.0;
        }
        let gamma = randn(&mut r, c, 1.5);
        let beta = randn(&mut r, c, 0.5);
        let dout = randn(&mut r, n * c, 1.0);
        let (mut out, mut mean, mut rstd) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(
            &mut out, &mut mean, &mut rstd, &inp, &gamma, &beta, n, c, 1e-12,
        );
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
            if isa > detected_isa() {
                continue;
            }
            limit_isa(isa);
            for (threads, pool) in &pools {
                let (full, input) = pool.install(|| {
                    let mut full = vec![f32::NAN; n * c];
                    let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                    layernorm_backward(
                        &mut full, &mut dg, &mut db, &dout, &inp, &mean, &rstd, &gamma, n, c,
                    );
                    let mut input = vec![f32::NAN; n * c];
                    layernorm_backward_input(&mut input, &dout, &inp, &mean, &rstd, &gamma, n, c);
                    (full, input)
                });
                let what = format!("n {n} c {c} {isa:?} threads {threads}");
                assert!(
                    full.iter().all(|v| v.is_finite()),
                    "{what}: non-finite dinp"
                );
                if let Some(i) = (0..n * c).find(|&i| full[i].to_bits() != input[i].to_bits()) {
                    panic!("{what}: dinp[{i}] {} != full {}", input[i], full[i]);
                }
            }
        }
        limit_isa(Isa::Avx512);
    }
}

#[test]
fn input_only_empty_and_bad_shapes() {
    layernorm_backward_input(&mut [], &[], &[], &[], &[], &[0.0; 4], 0, 4);
    let caught = std::panic::catch_unwind(|| {
        let mut dinp = vec![0.0; 6];
        layernorm_backward_input(
            &mut dinp, &[0.0; 6], &[0.0; 6], &[0.0; 2], &[0.0; 2], &[0.0; 2], 2, 3,
        );
    });
    let msg = caught.expect_err("a [2] gamma for C = 3 must panic");
    let msg = msg.downcast_ref::<String>().expect("panic message");
    assert!(msg.contains("gamma must be [C]"), "{msg}");
}
