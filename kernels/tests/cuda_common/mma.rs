//! Per-lane CPU models of the warp-level tensor-core instructions the kernels use, written
//! from the PTX ISA's definitions: `ldmatrix.x4` (plain and `.trans`) and
//! `mma.sync.m16n8k16.row.col` with f32 accumulators. A fragment is `[lane][register]`, a
//! 16-bit pair as `(low, high)` in f32.

/// One lane's registers of an A fragment (4) or a B fragment (2).
pub type Frag<const N: usize> = [[(f32, f32); N]; 32];
/// One lane's 4 accumulators of a 16 x 8 tile.
pub type Acc = [[f32; 4]; 32];

/// `ldmatrix.x4` (PTX ISA): lanes 8i..8i+7 give the row addresses of matrix i (8
/// consecutive 16-bit elements each). Without `.trans` lane t receives, as register i,
/// elements (row t/4, cols 2(t%4), 2(t%4)+1) of matrix i; with `.trans` it receives
/// (rows 2(t%4), 2(t%4)+1, col t/4). Returns `[lane][reg] -> (lo, hi)`.
pub fn ldmatrix_x4(smem: &[f32], addr: impl Fn(usize) -> usize, trans: bool) -> Frag<4> {
    let mut out = [[(0.0, 0.0); 4]; 32];
    for (t, regs) in out.iter_mut().enumerate() {
        for (i, reg) in regs.iter_mut().enumerate() {
            let row_addr = |r: usize| addr(8 * i + r);
            *reg = if !trans {
                let base = row_addr(t / 4);
                (smem[base + 2 * (t % 4)], smem[base + 2 * (t % 4) + 1])
            } else {
                (
                    smem[row_addr(2 * (t % 4)) + t / 4],
                    smem[row_addr(2 * (t % 4) + 1) + t / 4],
                )
            };
        }
    }
    out
}

/// `mma.m16n8k16.row.col` fragment layouts (PTX ISA), g = lane / 4, c = lane % 4:
/// A regs a0 (g, 2c..), a1 (g+8, 2c..), a2 (g, 2c+8..), a3 (g+8, 2c+8..);
/// B regs b0 (k 2c.., n g), b1 (k 2c+8.., n g); D d0,d1 (g, 2c..), d2,d3 (g+8, 2c..).
pub fn mma(d: &mut Acc, a: &Frag<4>, b: &Frag<2>) {
    let mut am = [[0.0f32; 16]; 16];
    let mut bm = [[0.0f32; 8]; 16];
    for t in 0..32 {
        let (g, c) = (t / 4, t % 4);
        for (i, (r, k)) in [
            (g, 2 * c),
            (g + 8, 2 * c),
            (g, 2 * c + 8),
            (g + 8, 2 * c + 8),
        ]
        .into_iter()
        .enumerate()
        {
            am[r][k] = a[t][i].0;
            am[r][k + 1] = a[t][i].1;
        }
        for (i, k) in [2 * c, 2 * c + 8].into_iter().enumerate() {
            bm[k][g] = b[t][i].0;
            bm[k + 1][g] = b[t][i].1;
        }
    }
    for (t, dt) in d.iter_mut().enumerate() {
        let (g, c) = (t / 4, t % 4);
        for (e, (r, col)) in [
            (g, 2 * c),
            (g, 2 * c + 1),
            (g + 8, 2 * c),
            (g + 8, 2 * c + 1),
        ]
        .into_iter()
        .enumerate()
        {
            dt[e] += (0..16).map(|k| am[r][k] * bm[k][col]).sum::<f32>();
        }
    }
}

/// Values in -3..=3 from a linear congruential stream: products and sums of these stay
/// exact in f32, so emulated GEMMs can be compared for equality.
pub fn small_ints(mut seed: u32) -> impl FnMut() -> f32 {
    move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        ((seed >> 24) % 7) as f32 - 3.0
    }
}

/// `got` (m x n) equals op(A) op(B) exactly; A is stored `[k][m]` when `ta`, B `[n][k]` when
/// `tb`.
#[allow(clippy::too_many_arguments)]
pub fn assert_exact_product(
    what: &str,
    got: &[f32],
    ta: bool,
    tb: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
) {
    for i in 0..m {
        for j in 0..n {
            let want: f32 = (0..k)
                .map(|p| {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    av * bv
                })
                .sum();
            assert_eq!(got[i * n + j], want, "{what} at ({i}, {j})");
        }
    }
}
