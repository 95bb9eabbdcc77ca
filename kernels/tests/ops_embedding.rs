//! Embedding sum forward vs a reference; backward (scatter-add) by finite differences.

mod common;

use common::{assert_close, check_grad, functional, randn, rng};
use rand::Rng;
use tokken_kernels::cpu::embedding::{embedding_backward, embedding_forward};

struct Case {
    b: usize,
    t: usize,
    c: usize,
    ids: Vec<u32>,
    types: Vec<u32>,
    word: Vec<f32>,
    pos: Vec<f32>,
    tt: Vec<f32>,
}

fn case(seed: u64, b: usize, t: usize, c: usize, v: usize, p: usize, tv: usize) -> Case {
    let mut r = rng(seed);
    Case {
        b,
        t,
        c,
        // Repeated ids exercise the scatter-add.
        ids: (0..b * t).map(|_| r.random_range(0..v as u32)).collect(),
        types: (0..b * t).map(|_| r.random_range(0..tv as u32)).collect(),
        word: randn(&mut r, v * c, 1.0),
        pos: randn(&mut r, p * c, 1.0),
        tt: randn(&mut r, tv * c, 1.0),
    }
}

fn forward(k: &Case, word: &[f32], pos: &[f32], tt: &[f32]) -> Vec<f32> {
    let mut out = vec![f32::NAN; k.b * k.t * k.c];
    embedding_forward(&mut out, &k.ids, &k.types, word, pos, tt, k.b, k.t, k.c);
    out
}

#[test]
fn forward_matches_reference() {
    for (seed, &(b, t, c, v, p, tv)) in [
        (1, 1, 1, 1, 1, 1),
        (2, 7, 13, 11, 9, 2),
        (4, 33, 130, 50, 40, 3),
    ]
    .iter()
    .enumerate()
    {
        let k = case(seed as u64, b, t, c, v, p, tv);
        let out = forward(&k, &k.word, &k.pos, &k.tt);
        let mut want = vec![0.0f64; b * t * c];
        for tok in 0..b * t {
            for j in 0..c {
                want[tok * c + j] = k.word[k.ids[tok] as usize * c + j] as f64
                    + k.pos[(tok % t) * c + j] as f64
                    + k.tt[k.types[tok] as usize * c + j] as f64;
            }
        }
        assert_close("embeddings", &out, &want, 1e-6, 1e-6);
    }
}

#[test]
fn backward_matches_finite_differences_and_accumulates() {
    let k = case(7, 2, 5, 3, 4, 6, 2);
    let w = randn(&mut rng(8), k.b * k.t * k.c, 1.0);
    let init = |n: usize, s: u64| randn(&mut rng(s), n, 1.0);
    let (mut dw, mut dp, mut dt) = (
        init(k.word.len(), 9),
        init(k.pos.len(), 10),
        init(k.tt.len(), 11),
    );
    let (dw0, dp0, dt0) = (dw.clone(), dp.clone(), dt.clone());
    embedding_backward(
        Some(&mut dw),
        Some(&mut dp),
        Some(&mut dt),
        &w,
        &k.ids,
        &k.types,
        k.b,
        k.t,
        k.c,
    );
    let minus = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<f32>>();
    let (gw, gp, gt) = (minus(&dw, &dw0), minus(&dp, &dp0), minus(&dt, &dt0));
    check_grad("dword", &mut k.word.clone(), &gw, 1e-2, 1e-4, |x| {
        functional(&w, &forward(&k, x, &k.pos, &k.tt))
    });
    check_grad("dposition", &mut k.pos.clone(), &gp, 1e-2, 1e-4, |x| {
        functional(&w, &forward(&k, &k.word, x, &k.tt))
    });
    check_grad("dtoken_type", &mut k.tt.clone(), &gt, 1e-2, 1e-4, |x| {
        functional(&w, &forward(&k, &k.word, &k.pos, x))
    });
}

#[test]
fn frozen_tables_are_skipped() {
    let k = case(12, 3, 4, 130, 5, 4, 2);
    let dout = randn(&mut rng(13), k.b * k.t * k.c, 1.0);
    let mut dp = vec![0.0; k.pos.len()];
    let mut dp_all = vec![0.0; k.pos.len()];
    let (mut dw, mut dt) = (vec![0.0; k.word.len()], vec![0.0; k.tt.len()]);
    embedding_backward(
        None,
        Some(&mut dp),
        None,
        &dout,
        &k.ids,
        &k.types,
        k.b,
        k.t,
        k.c,
    );
    embedding_backward(
        Some(&mut dw),
        Some(&mut dp_all),
        Some(&mut dt),
        &dout,
        &k.ids,
        &k.types,
        k.b,
        k.t,
        k.c,
    );
    assert_eq!(dp, dp_all);
    // Position t gets Σ_b dout[b, t].
    for t in 0..k.t {
        for j in 0..k.c {
            let s: f32 = (0..k.b).map(|b| dout[(b * k.t + t) * k.c + j]).sum();
            assert!((dp[t * k.c + j] - s).abs() < 1e-5);
        }
    }
}

#[test]
#[should_panic(expected = "word id 9 at position 1 is out of range")]
fn out_of_range_id_panics_with_a_clear_message() {
    let k = case(14, 1, 2, 4, 9, 2, 2);
    let mut out = vec![0.0; 8];
    embedding_forward(&mut out, &[0, 9], &[0, 0], &k.word, &k.pos, &k.tt, 1, 2, 4);
}
