//! Cross-entropy and BCE-with-logits vs torch's documented formulas (hand-computed cases
//! and a direct f64 transcription), gradients by finite differences.

mod common;

use common::{check_grad, randn, rng};
use rand::Rng;
use tokken_kernels::cpu::xent::{bce_with_logits, cross_entropy, CrossEntropyOptions, Reduction};

/// torch docs: q = (1-ε) onehot(y) + ε/K; l_i = -Σ_c w_c q_c log p_c;
/// mean = Σ l_i / Σ_i w_{y_i} over non-ignored samples.
fn torch_ce(z: &[f32], y: &[i32], k: usize, o: &CrossEntropyOptions) -> f64 {
    let w = |c: usize| o.weight.map_or(1.0, |w| w[c] as f64);
    let eps = o.label_smoothing as f64;
    let (mut total, mut wsum) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        if o.ignore_index == Some(yi) {
            continue;
        }
        let row = &z[i * k..(i + 1) * k];
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        for (c, &zc) in row.iter().enumerate() {
            let q = (1.0 - eps) * if c == yi as usize { 1.0 } else { 0.0 } + eps / k as f64;
            total -= w(c) * q * (zc as f64 - lse);
        }
        wsum += w(yi as usize);
    }
    match o.reduction {
        Reduction::Mean => total / wsum,
        Reduction::Sum => total,
    }
}

fn ce(z: &[f32], y: &[i32], k: usize, o: &CrossEntropyOptions) -> (f32, Vec<f32>) {
    let mut d = vec![f32::NAN; z.len()];
    let loss = cross_entropy(&mut d, z, y, y.len(), k, o);
    (loss, d)
}

#[test]
fn hand_computed_cases() {
    // p = (1/6, 2/6, 3/6): loss = -ln p_2 = ln 2, dlogits = p - onehot.
    let z = [0.0, 2f32.ln(), 3f32.ln()];
    let (l, d) = ce(&z, &[2], 3, &CrossEntropyOptions::default());
    assert!((l - 2f32.ln()).abs() < 1e-6, "{l}");
    for (g, want) in d.iter().zip([1.0 / 6.0, 2.0 / 6.0, -0.5]) {
        assert!((g - want).abs() < 1e-6);
    }
    // ε = 0.3, K = 3: q = (0.1, 0.1, 0.8): loss = 0.1 ln 6 + 0.1 ln 3 + 0.8 ln 2.
    let o = CrossEntropyOptions {
        label_smoothing: 0.3,
        ..Default::default()
    };
    let (l, d) = ce(&z, &[2], 3, &o);
    let want = 0.1 * 6f64.ln() + 0.1 * 3f64.ln() + 0.8 * 2f64.ln();
    assert!((l as f64 - want).abs() < 1e-6, "{l} vs {want}");
    for (g, want) in d.iter().zip([1.0 / 6.0 - 0.1, 2.0 / 6.0 - 0.1, 0.5 - 0.8]) {
        assert!((g - want).abs() < 1e-6);
    }
    // Weights (1, 2, 4), two samples with targets 0 and 2, uniform logits (p = 1/3):
    // mean = (1 ln 3 + 4 ln 3) / (1 + 4) = ln 3.
    let weight = [1.0, 2.0, 4.0];
    let o = CrossEntropyOptions {
        weight: Some(&weight),
        ..Default::default()
    };
    let (l, _) = ce(&[0.0; 6], &[0, 2], 3, &o);
    assert!((l - 3f32.ln()).abs() < 1e-6);
    // Ignored samples contribute nothing; Sum reduction: loss = ln(e^5 + e^1) - 1.
    let o = CrossEntropyOptions {
        ignore_index: Some(-100),
        reduction: Reduction::Sum,
        ..Default::default()
    };
    let (l, d) = ce(&[0.0, 0.0, 5.0, 1.0], &[-100, 1], 2, &o);
    let want = (5f64.exp() + 1f64.exp()).ln() - 1.0;
    assert!((l as f64 - want).abs() < 1e-6, "{l} vs {want}");
    assert_eq!(&d[..2], &[0.0, 0.0]);
}

#[test]
fn matches_torch_formula_and_finite_differences() {
    let mut r = rng(40);
    let weight = [0.5f32, 1.0, 2.0, 0.25, 1.5];
    let k = 5;
    let n = 7;
    for (ls, wt, ign, red) in [
        (0.0, false, false, Reduction::Mean),
        (0.1, false, false, Reduction::Mean),
        (0.2, true, false, Reduction::Mean),
        (0.15, true, true, Reduction::Mean),
        (0.3, true, true, Reduction::Sum),
    ] {
        let o = CrossEntropyOptions {
            weight: wt.then_some(&weight[..]),
            label_smoothing: ls,
            ignore_index: ign.then_some(-100),
            reduction: red,
        };
        let mut y: Vec<i32> = (0..n).map(|_| r.random_range(0..k as i32)).collect();
        if ign {
            y[3] = -100;
        }
        let mut z = randn(&mut r, n * k, 3.0);
        let (loss, d) = ce(&z, &y, k, &o);
        let want = torch_ce(&z, &y, k, &o);
        assert!(
            (loss as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "{loss} vs {want} ({o:?})"
        );
        check_grad("dlogits", &mut z, &d, 1e-3, 1e-3, |x| {
            ce(x, &y, k, &o).0 as f64
        });
    }
}

#[test]
fn large_logits_are_stable() {
    let (l, d) = ce(
        &[1000.0, 0.0, -1000.0],
        &[1],
        3,
        &CrossEntropyOptions::default(),
    );
    assert!((l - 1000.0).abs() < 1e-3, "{l}");
    assert!(d.iter().all(|v| v.is_finite()));
}

fn bce(z: &[f32], y: &[f32], pw: Option<&[f32]>, k: usize, red: Reduction) -> (f32, Vec<f32>) {
    let mut d = vec![f32::NAN; z.len()];
    let loss = bce_with_logits(&mut d, z, y, pw, z.len() / k, k, red);
    (loss, d)
}

#[test]
fn bce_with_logits_hand_cases_and_formula() {
    // z = 0: σ = 1/2, loss = ln 2 for any target; d = σ - y.
    let (l, d) = bce(&[0.0, 0.0], &[1.0, 0.0], None, 2, Reduction::Mean);
    assert!((l - 2f32.ln()).abs() < 1e-7);
    assert_eq!(d, vec![-0.25, 0.25]);
    // pos_weight 3 on target 1 at z = 0: loss = 3 ln 2; d = σ (pw y + 1 - y) - pw y = -1.5.
    let (l, d) = bce(&[0.0], &[1.0], Some(&[3.0]), 1, Reduction::Sum);
    assert!((l - 3.0 * 2f32.ln()).abs() < 1e-6);
    assert!((d[0] + 1.5).abs() < 1e-7);
    // Extreme logits stay finite: z = ±100 with the wrong target costs 100.
    let (l, _) = bce(&[100.0, -100.0], &[0.0, 1.0], None, 2, Reduction::Sum);
    assert!((l - 200.0).abs() < 1e-3, "{l}");

    // Random case vs the literal formula -w[pw y log σ + (1-y) log(1-σ)] in f64.
    let mut r = rng(41);
    let (n, k) = (6, 4);
    let pw = [1.0f32, 2.0, 0.5, 3.0];
    let mut z = randn(&mut r, n * k, 4.0);
    let y: Vec<f32> = (0..n * k).map(|i| [0.0, 1.0, 0.3][i % 3]).collect();
    let (loss, d) = bce(&z, &y, Some(&pw), k, Reduction::Mean);
    let want: f64 = z
        .iter()
        .zip(&y)
        .enumerate()
        .map(|(i, (&zi, &yi))| {
            let s = 1.0 / (1.0 + (-(zi as f64)).exp());
            -(pw[i % k] as f64 * yi as f64 * s.ln() + (1.0 - yi as f64) * (1.0 - s).ln())
        })
        .sum::<f64>()
        / (n * k) as f64;
    assert!((loss as f64 - want).abs() < 1e-6, "{loss} vs {want}");
    check_grad("bce dlogits", &mut z, &d, 1e-3, 1e-3, |x| {
        bce(x, &y, Some(&pw), k, Reduction::Mean).0 as f64
    });
}
