//! Seeded stratified sampling of a labelled pool (the few-shot training sets).
//!
//! Examples are grouped by label (label order), each group is shuffled by a SplitMix64-driven
//! Fisher–Yates shuffle of the seed, and the sample takes the first `quota` of each group:
//! - per class: `quota = min(shots, group size)`;
//! - in total: every class gets one example first (when `shots ≥` the number of classes),
//!   the rest is shared in proportion to the groups' remaining sizes by largest remainder
//!   (ties to the earlier label), never more than a group holds.
//!
//! The same pool, shots and seed give the same sample on every machine.

use std::collections::BTreeMap;

use crate::data::Example;
use crate::error::{ModelError, Result};
use crate::rng::SplitMix64;

/// Indices (ascending) of a stratified sample of `examples` by their (first) label.
pub fn stratified_sample(
    examples: &[Example],
    shots: usize,
    per_class: bool,
    seed: u64,
) -> Result<Vec<usize>> {
    if shots == 0 {
        return Err(ModelError::Input("--shots must be at least 1".into()));
    }
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        let label = e.label.as_slice().first().map_or("", String::as_str);
        groups.entry(label).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    let mut rng = SplitMix64::new(seed);
    for g in &mut groups {
        rng.shuffle(g);
    }
    let quotas: Vec<usize> = if per_class {
        groups.iter().map(|g| g.len().min(shots)).collect()
    } else {
        if shots > examples.len() {
            return Err(ModelError::Input(format!(
                "--shots {shots} is more than the pool's {} examples",
                examples.len()
            )));
        }
        total_quotas(&groups, shots)
    };
    let mut out: Vec<usize> = groups
        .iter()
        .zip(&quotas)
        .flat_map(|(g, &q)| g[..q].iter().copied())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// `shots` shared among groups: one each first (when there are enough shots), then the rest
/// proportionally to what each group has left, by largest remainder.
fn total_quotas(groups: &[Vec<usize>], shots: usize) -> Vec<usize> {
    let mut q = vec![0usize; groups.len()];
    let mut left = shots;
    if shots >= groups.len() {
        q.iter_mut().for_each(|x| *x = 1);
        left -= groups.len();
    }
    let room: Vec<usize> = groups.iter().zip(&q).map(|(g, &x)| g.len() - x).collect();
    let total_room: usize = room.iter().sum();
    if left == 0 || total_room == 0 {
        return q;
    }
    let share = |i: usize| left as f64 * room[i] as f64 / total_room as f64;
    let mut given = 0;
    for i in 0..groups.len() {
        let s = (share(i).floor() as usize).min(room[i]);
        q[i] += s;
        given += s;
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = share(a) - share(a).floor();
        let fb = share(b) - share(b).floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    while given < left {
        let mut progressed = false;
        for &i in &order {
            if given == left {
                break;
            }
            if q[i] < groups[i].len() {
                q[i] += 1;
                given += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LabelTarget;

    fn pool(counts: &[(&str, usize)]) -> Vec<Example> {
        let mut out = Vec::new();
        for (label, n) in counts {
            for i in 0..*n {
                out.push(Example {
                    text: format!("{label}{i}"),
                    text_pair: None,
                    label: LabelTarget::Single(label.to_string()),
                    extra: Default::default(),
                    line: out.len() + 1,
                });
            }
        }
        out
    }

    fn count(ex: &[Example], idx: &[usize], label: &str) -> usize {
        idx.iter()
            .filter(|&&i| ex[i].label.as_slice()[0] == label)
            .count()
    }

    #[test]
    fn per_class_takes_shots_of_each_or_all() {
        let ex = pool(&[("a", 10), ("b", 3), ("c", 7)]);
        let s = stratified_sample(&ex, 5, true, 1).unwrap();
        assert_eq!(
            (
                count(&ex, &s, "a"),
                count(&ex, &s, "b"),
                count(&ex, &s, "c")
            ),
            (5, 3, 5)
        );
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn total_is_exact_proportional_and_covers_every_class() {
        let ex = pool(&[("a", 80), ("b", 15), ("c", 5)]);
        let s = stratified_sample(&ex, 20, false, 7).unwrap();
        assert_eq!(s.len(), 20);
        // 1 each, then 17 over rooms 79/14/4 (of 97): 13.84, 2.45, 0.70 -> 13+1, 2, 0+1.
        assert_eq!(
            (
                count(&ex, &s, "a"),
                count(&ex, &s, "b"),
                count(&ex, &s, "c")
            ),
            (15, 3, 2)
        );
    }

    #[test]
    fn seeds_change_the_sample_and_repeat_it() {
        let ex = pool(&[("a", 50), ("b", 50)]);
        let s1 = stratified_sample(&ex, 10, false, 1).unwrap();
        assert_eq!(s1, stratified_sample(&ex, 10, false, 1).unwrap());
        assert_ne!(s1, stratified_sample(&ex, 10, false, 2).unwrap());
    }

    #[test]
    fn too_many_or_zero_shots_are_errors() {
        let ex = pool(&[("a", 3)]);
        assert!(stratified_sample(&ex, 4, false, 0).is_err());
        assert!(stratified_sample(&ex, 0, true, 0).is_err());
    }
}
