//! Counterfactual augmentation: term-swapped copies of training examples, same label.
//!
//! The terms are every term set of a probe file ([`ProbeSet::all_sets`]). Per example and
//! per group:
//!
//! 1. find the group's terms in `text` (and `text_pair`): scanning left to right, at each
//!    character the longest term starting there is taken and the scan continues after it
//!    (so `彼女` is one term, not `彼` + `女`); matching is on plain substrings;
//! 2. if any term of the group occurs, add copies in which every occurrence is rotated
//!    within its set: rotation r maps the term at position p of a set of size k to position
//!    `(p + r) mod k`, for r = 1 .. K-1 with K the largest matched set. A two-term set gives
//!    one copy with each term swapped for its counterpart; several terms of the group in one
//!    text are swapped together (`夫が妻に…` → `妻が夫に…`), so a text stays coherent.
//!    Groups are rotated one at a time (a text with a gender term and a region term gets
//!    its gender copies and its region copies, never a copy with both changed).
//!
//! Copies keep the label and every extra field (a field whose whole value is a term of the
//! group is rotated with the text: `"gender": "女性"` becomes `"男性"`), gain
//! `counterfactual_of` (the original's line) and `counterfactual_group`, and follow their
//! original. A copy identical to the
//! original or to an earlier copy is dropped.

use std::collections::BTreeMap;

use super::probes::ProbeSet;
use crate::data::{Dataset, Example};

/// One group's terms: term → (set index, position in the set), and the sets.
struct GroupTerms {
    name: String,
    sets: Vec<Vec<String>>,
    index: BTreeMap<String, (usize, usize)>,
    longest: usize,
}

/// A found term: byte range, set, position in the set.
struct Hit {
    start: usize,
    end: usize,
    set: usize,
    pos: usize,
}

impl GroupTerms {
    fn hits(&self, text: &str) -> Vec<Hit> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            // Longest term starting at i (terms are at most `longest` characters).
            let ends: Vec<usize> = rest
                .char_indices()
                .map(|(b, c)| b + c.len_utf8())
                .take(self.longest)
                .collect();
            let hit = ends.iter().rev().find_map(|&e| {
                self.index.get(&rest[..e]).map(|&(set, pos)| Hit {
                    start: i,
                    end: i + e,
                    set,
                    pos,
                })
            });
            match hit {
                Some(h) => {
                    i = h.end;
                    out.push(h);
                }
                None => i += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        out
    }

    fn rotate(&self, text: &str, hits: &[Hit], r: usize) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for h in hits {
            let set = &self.sets[h.set];
            out.push_str(&text[last..h.start]);
            out.push_str(&set[(h.pos + r) % set.len()]);
            last = h.end;
        }
        out.push_str(&text[last..]);
        out
    }
}

fn group_terms(probes: &ProbeSet) -> Vec<GroupTerms> {
    let mut groups: Vec<GroupTerms> = Vec::new();
    for (name, set) in probes.all_sets() {
        let gi = match groups.iter().position(|g| g.name == name) {
            Some(i) => i,
            None => {
                groups.push(GroupTerms {
                    name: name.clone(),
                    sets: Vec::new(),
                    index: BTreeMap::new(),
                    longest: 0,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[gi];
        let si = g.sets.len();
        for (pos, t) in set.iter().enumerate() {
            // A term in two sets of a group keeps its first set.
            g.index.entry(t.clone()).or_insert((si, pos));
            g.longest = g.longest.max(t.chars().count());
        }
        g.sets.push(set);
    }
    groups
}

/// `data` with the counterfactual copies of its examples (see the module docs).
pub fn augment_counterfactual(data: &Dataset, probes: &ProbeSet) -> Dataset {
    let groups = group_terms(probes);
    let mut examples = Vec::with_capacity(data.examples.len() * 2);
    for e in &data.examples {
        examples.push(e.clone());
        let mut seen: Vec<(String, Option<String>)> = vec![(e.text.clone(), e.text_pair.clone())];
        for g in &groups {
            let hits = g.hits(&e.text);
            let pair_hits = e
                .text_pair
                .as_deref()
                .map(|p| g.hits(p))
                .unwrap_or_default();
            let largest = hits
                .iter()
                .chain(&pair_hits)
                .map(|h| g.sets[h.set].len())
                .max()
                .unwrap_or(0);
            for r in 1..largest {
                let text = g.rotate(&e.text, &hits, r);
                let text_pair = e.text_pair.as_deref().map(|p| g.rotate(p, &pair_hits, r));
                let key = (text, text_pair);
                if seen.contains(&key) {
                    continue;
                }
                let mut copy: Example = e.clone();
                copy.text = key.0.clone();
                copy.text_pair = key.1.clone();
                // A field whose whole value is a term of the group (`"gender": "女性"`)
                // follows the swap, so group fields stay true for the copy.
                for v in copy.extra.values_mut() {
                    if let Some(&(set, pos)) = g.index.get(v.as_str()) {
                        let set = &g.sets[set];
                        *v = set[(pos + r) % set.len()].clone();
                    }
                }
                copy.extra
                    .insert("counterfactual_of".into(), e.line.to_string());
                copy.extra
                    .insert("counterfactual_group".into(), g.name.clone());
                examples.push(copy);
                seen.push(key);
            }
        }
    }
    Dataset {
        path: data.path.clone(),
        examples,
        multi_label: data.multi_label,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::LabelTarget;

    fn ex(text: &str, line: usize) -> Example {
        Example {
            text: text.into(),
            text_pair: None,
            label: LabelTarget::Single("経済".into()),
            extra: BTreeMap::from([("gender".to_string(), "彼女".to_string())]),
            line,
        }
    }

    #[test]
    fn swaps_all_terms_of_a_group_together_and_rotates_larger_sets() {
        let probes = ProbeSet::parse(
            Path::new("p.jsonl"),
            concat!(
                r#"{"group":"gender","terms":[["彼","彼女"],["夫","妻"]]}"#,
                "\n",
                r#"{"group":"nationality","terms":[["日本人","中国人","米国人"]]}"#,
                "\n",
                r#"{"template":"{X}が来日","group":"nationality"}"#,
                "\n",
            ),
        )
        .unwrap();
        let data = Dataset {
            path: "d.jsonl".into(),
            examples: vec![
                ex("彼女が夫と会見", 1),
                ex("日本人選手が優勝", 2),
                ex("株価が上昇", 3),
            ],
            multi_label: false,
        };
        let out = augment_counterfactual(&data, &probes);
        let texts: Vec<&str> = out.examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "彼女が夫と会見",
                "彼が妻と会見", // longest match: 彼女 is one term; both terms swapped
                "日本人選手が優勝",
                "中国人選手が優勝",
                "米国人選手が優勝",
                "株価が上昇",
            ]
        );
        assert_eq!(out.examples[1].label, data.examples[0].label);
        assert_eq!(out.examples[1].extra["counterfactual_of"], "1");
        assert_eq!(out.examples[0].extra["gender"], "彼女");
        assert_eq!(out.examples[1].extra["gender"], "彼");
        assert_eq!(out.examples[4].extra["counterfactual_group"], "nationality");
    }
}
