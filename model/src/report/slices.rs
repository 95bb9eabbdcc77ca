//! Subsets of a data set to score separately: text-length buckets and the values of a data
//! field (`kind`, `source`, …). `eval` scores its slices with these, and `compare` scores
//! both models on the same subsets (`≤ 10`, `11–20`, `> 20`, `(none)`).

use std::collections::BTreeMap;

use crate::data::Example;
use crate::error::Result;
use crate::metrics::SliceMetrics;

/// One subset: what it is cut by, its value, and the indices of its examples (ascending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    /// `length` or a field name.
    pub by: String,
    pub value: String,
    pub members: Vec<usize>,
}

/// Length buckets (characters of `text`) from inclusive upper bounds: `[10, 20]` gives
/// `≤ 10`, `11–20`, `> 20`. Empty buckets are left out; empty `bounds` give no slices.
pub fn length_slices(examples: &[Example], bounds: &[usize]) -> Vec<Slice> {
    let mut bounds = bounds.to_vec();
    bounds.sort_unstable();
    bounds.dedup();
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); bounds.len() + 1];
    for (i, e) in examples.iter().enumerate() {
        let len = e.text.chars().count();
        buckets[bounds.partition_point(|&b| b < len)].push(i);
    }
    buckets
        .into_iter()
        .enumerate()
        .filter(|(_, m)| !m.is_empty())
        .map(|(b, members)| Slice {
            by: "length".into(),
            value: bucket_name(&bounds, b),
            members,
        })
        .collect()
}

fn bucket_name(bounds: &[usize], b: usize) -> String {
    match b {
        0 => format!("≤ {}", bounds[0]),
        b if b == bounds.len() => format!("> {}", bounds[b - 1]),
        b if bounds[b - 1] + 1 == bounds[b] => format!("{}", bounds[b]),
        b => format!("{}–{}", bounds[b - 1] + 1, bounds[b]),
    }
}

/// One slice per value of `field` (sorted), `(none)` for examples without it.
pub fn field_slices(examples: &[Example], field: &str) -> Vec<Slice> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        let value = e.extra.get(field).map_or("(none)", |v| v.as_str());
        groups.entry(value).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|(value, members)| Slice {
            by: field.to_string(),
            value: value.to_string(),
            members,
        })
        .collect()
}

/// Length slices, then the slices of each field in `fields`.
pub fn all_slices(examples: &[Example], bounds: &[usize], fields: &[String]) -> Vec<Slice> {
    let mut out = length_slices(examples, bounds);
    for f in fields {
        out.extend(field_slices(examples, f));
    }
    out
}

/// Scores of each slice.
pub fn score_slices(
    slices: &[Slice],
    y_true: &[usize],
    y_pred: &[usize],
    labels: &[String],
) -> Result<Vec<SliceMetrics>> {
    let mut out = Vec::with_capacity(slices.len());
    for s in slices {
        out.extend(SliceMetrics::of(
            &s.by, &s.value, y_true, y_pred, &s.members, labels,
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::LabelTarget;

    fn ex(text: &str, kind: Option<&str>) -> Example {
        let mut extra = BTreeMap::new();
        if let Some(k) = kind {
            extra.insert("kind".to_string(), k.to_string());
        }
        Example {
            text: text.into(),
            text_pair: None,
            label: LabelTarget::Single("a".into()),
            extra,
            line: 1,
        }
    }

    #[test]
    fn length_buckets_count_characters_not_bytes() {
        let data = [
            ex(&"あ".repeat(10), None),
            ex(&"あ".repeat(11), None),
            ex(&"a".repeat(20), None),
            ex(&"a".repeat(21), None),
        ];
        let s = length_slices(&data, &[20, 10]);
        let got: Vec<(&str, &[usize])> = s
            .iter()
            .map(|s| (s.value.as_str(), &s.members[..]))
            .collect();
        assert_eq!(
            got,
            vec![
                ("≤ 10", &[0][..]),
                ("11–20", &[1, 2][..]),
                ("> 20", &[3][..])
            ]
        );
    }

    #[test]
    fn field_values_sorted_with_none() {
        let data = [
            ex("x", Some("b")),
            ex("y", None),
            ex("z", Some("a")),
            ex("w", Some("b")),
        ];
        let s = field_slices(&data, "kind");
        let got: Vec<(&str, &[usize])> = s
            .iter()
            .map(|s| (s.value.as_str(), &s.members[..]))
            .collect();
        assert_eq!(
            got,
            vec![("(none)", &[1][..]), ("a", &[2][..]), ("b", &[0, 3][..])]
        );
    }
}
