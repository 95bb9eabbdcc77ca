//! A dense layer whose weight is stacked from parts (the q|k|v weight of a mapped
//! checkpoint) gives bit for bit the output of the same weight as one tensor, on the plain
//! GEMM path and packed, with and without a residual, for row counts on both sides of the
//! packed path's limit.

use tokken_engine::Tensor;
use tokken_model::linear::{linear_forward, linear_forward_packed};
use tokken_model::params::LinearParams;
use tokken_model::prepacked::Prepacked;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn stacked_weights_give_the_joined_weights_output_bit_for_bit() {
    let (k, part_rows) = (48, [40usize, 40, 40]);
    let n: usize = part_rows.iter().sum();
    let parts: Vec<Tensor> = part_rows
        .iter()
        .enumerate()
        .map(|(i, &r)| Tensor::from_f32(vec![r, k], values(r * k, i as u32 + 1)).unwrap())
        .collect();
    let joined: Vec<f32> = parts.iter().flat_map(|p| p.to_f32_vec()).collect();
    let bias = Tensor::from_f32(vec![n], values(n, 9)).unwrap();
    let lin = |weight: Tensor| LinearParams {
        weight,
        bias: bias.clone(),
        out_features: n,
        in_features: k,
    };
    let stacked = lin(Tensor::stack_rows(&parts).unwrap());
    let whole = lin(Tensor::from_f32(vec![n, k], joined).unwrap());
    assert!(stacked.weight.stacked_parts().is_some());
    let packed = Prepacked::new(&stacked).unwrap();

    for rows in [1, 7, 32, 600] {
        let inp = values(rows * k, 100 + rows as u32);
        let residual = values(rows * n, 200 + rows as u32);
        for res in [None, Some(&residual[..])] {
            let mut want = vec![0.0; rows * n];
            linear_forward(&mut want, &inp, res, &whole, rows).unwrap();
            let mut got = vec![0.0; rows * n];
            linear_forward(&mut got, &inp, res, &stacked, rows).unwrap();
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "plain GEMM, {rows} rows"
            );
            let mut got = vec![0.0; rows * n];
            linear_forward_packed(&mut got, &inp, res, &stacked, Some(&packed), rows).unwrap();
            let mut want_packed = vec![0.0; rows * n];
            let packed_whole = Prepacked::new(&whole).unwrap();
            linear_forward_packed(
                &mut want_packed,
                &inp,
                res,
                &whole,
                Some(&packed_whole),
                rows,
            )
            .unwrap();
            assert!(
                want_packed
                    .iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "packed, {rows} rows"
            );
        }
    }
}
