//! The shortcut report: over a labelled set, which words carry the attribution mass behind
//! each predicted class, contrasted between correct and wrong predictions.
//!
//! Per explanation, a word's **share** is its positive attribution over the sum of the
//! positive word attributions (what pushes the logit of the predicted class up). Only its
//! `top_k` words by share count. Per predicted class and word: how often it was among the
//! top words of correct and of wrong predictions, the summed shares (mass) in each, and
//! its wrong rate against the class's own error rate (`lift`). A word with a large wrong
//! mass and lift > 1 is a shortcut candidate: the model leans on it and it misleads —
//! e.g. 「外務省」 pulling headlines to 国際 whatever their topic.

use std::collections::BTreeMap;

use serde::Serialize;

use super::explanation::Explanation;

/// What the report keeps.
#[derive(Clone, Debug)]
pub struct ShortcutOptions {
    /// Words per explanation that count (by positive attribution).
    pub top_k: usize,
    /// Words listed per class (top words and shortcut candidates each).
    pub max_words: usize,
    /// Example headlines per word.
    pub max_examples: usize,
}

impl Default for ShortcutOptions {
    fn default() -> Self {
        ShortcutOptions {
            top_k: 3,
            max_words: 15,
            max_examples: 3,
        }
    }
}

/// An example headline behind a word.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExampleRef {
    /// Index into the explained set (input order).
    pub index: usize,
    pub text: String,
    pub gold: String,
    pub predicted: String,
    /// The word's share of the example's positive attribution.
    pub share: f32,
}

/// One word's statistics under one predicted class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WordStats {
    pub word: String,
    /// Correct / wrong predictions of the class with the word among their top words.
    pub n_correct: usize,
    pub n_wrong: usize,
    /// Summed shares in correct / wrong predictions.
    pub mass_correct: f32,
    pub mass_wrong: f32,
    /// `mass_wrong / (mass_correct + mass_wrong)`.
    pub wrong_mass_share: f32,
    /// `n_wrong / (n_correct + n_wrong)`.
    pub wrong_rate: f32,
    /// `wrong_rate / the class's error rate` (0 when the class makes no error).
    pub lift: f32,
    /// Wrong predictions first (largest share first), then correct ones.
    pub examples: Vec<ExampleRef>,
}

/// The report for one predicted class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassShortcuts {
    pub label: String,
    pub n_predicted: usize,
    pub n_wrong: usize,
    /// `n_wrong / n_predicted`.
    pub error_rate: f32,
    /// Words by total mass.
    pub top_words: Vec<WordStats>,
    /// Words seen in wrong predictions, by wrong mass.
    pub shortcuts: Vec<WordStats>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShortcutReport {
    pub model: String,
    pub data: String,
    pub method: String,
    pub n: usize,
    pub accuracy: f32,
    pub top_k: usize,
    pub classes: Vec<ClassShortcuts>,
}

#[derive(Clone, Default)]
struct Acc {
    n_correct: usize,
    n_wrong: usize,
    mass_correct: f64,
    mass_wrong: f64,
    /// (is wrong, share, index)
    seen: Vec<(bool, f32, usize)>,
}

/// The `top_k` words of `e` by positive attribution, with their shares.
pub fn top_word_shares(e: &Explanation, top_k: usize) -> Vec<(String, f32)> {
    let positive: f32 = e.words.iter().map(|w| w.score.max(0.0)).sum();
    if positive <= 0.0 {
        return Vec::new();
    }
    let mut ws: Vec<(String, f32)> = e
        .words
        .iter()
        .filter(|w| w.score > 0.0)
        .map(|w| (w.text.clone(), w.score / positive))
        .collect();
    ws.sort_by(|a, b| b.1.total_cmp(&a.1));
    // a word twice in one text counts once, with its summed share
    let mut merged: Vec<(String, f32)> = Vec::new();
    for (w, s) in ws {
        match merged.iter_mut().find(|(m, _)| *m == w) {
            Some(m) => m.1 += s,
            None => merged.push((w, s)),
        }
    }
    merged.truncate(top_k);
    merged
}

/// Aggregate explanations (each of its predicted class) with their gold labels.
pub fn shortcut_report(
    items: &[(Explanation, String)],
    labels: &[String],
    opts: &ShortcutOptions,
) -> ShortcutReport {
    let mut per_class: Vec<BTreeMap<String, Acc>> = vec![BTreeMap::new(); labels.len()];
    let mut n_pred = vec![0usize; labels.len()];
    let mut n_wrong = vec![0usize; labels.len()];
    let mut correct_total = 0usize;
    for (i, (e, gold)) in items.iter().enumerate() {
        let c = e.predicted_index.min(labels.len().saturating_sub(1));
        let wrong = &e.predicted != gold;
        n_pred[c] += 1;
        if wrong {
            n_wrong[c] += 1;
        } else {
            correct_total += 1;
        }
        for (word, share) in top_word_shares(e, opts.top_k) {
            let a = per_class[c].entry(word).or_default();
            if wrong {
                a.n_wrong += 1;
                a.mass_wrong += share as f64;
            } else {
                a.n_correct += 1;
                a.mass_correct += share as f64;
            }
            a.seen.push((wrong, share, i));
        }
    }
    let classes = labels
        .iter()
        .enumerate()
        .map(|(c, label)| {
            let error_rate = if n_pred[c] > 0 {
                n_wrong[c] as f32 / n_pred[c] as f32
            } else {
                0.0
            };
            let stats: Vec<WordStats> = per_class[c]
                .iter()
                .map(|(word, a)| word_stats(word, a, error_rate, items, opts.max_examples))
                .collect();
            let mut top_words = stats.clone();
            top_words.sort_by(|a, b| {
                (b.mass_correct + b.mass_wrong)
                    .total_cmp(&(a.mass_correct + a.mass_wrong))
                    .then_with(|| a.word.cmp(&b.word))
            });
            top_words.truncate(opts.max_words);
            let mut shortcuts: Vec<WordStats> =
                stats.into_iter().filter(|s| s.n_wrong > 0).collect();
            shortcuts.sort_by(|a, b| {
                b.mass_wrong
                    .total_cmp(&a.mass_wrong)
                    .then_with(|| b.wrong_rate.total_cmp(&a.wrong_rate))
                    .then_with(|| a.word.cmp(&b.word))
            });
            shortcuts.truncate(opts.max_words);
            ClassShortcuts {
                label: label.clone(),
                n_predicted: n_pred[c],
                n_wrong: n_wrong[c],
                error_rate,
                top_words,
                shortcuts,
            }
        })
        .collect();
    ShortcutReport {
        model: String::new(),
        data: String::new(),
        method: items
            .first()
            .map_or("ig", |(e, _)| e.method.name())
            .to_string(),
        n: items.len(),
        accuracy: if items.is_empty() {
            0.0
        } else {
            correct_total as f32 / items.len() as f32
        },
        top_k: opts.top_k,
        classes,
    }
}

fn word_stats(
    word: &str,
    a: &Acc,
    class_error_rate: f32,
    items: &[(Explanation, String)],
    max_examples: usize,
) -> WordStats {
    let total = a.mass_correct + a.mass_wrong;
    let n = a.n_correct + a.n_wrong;
    let wrong_rate = if n > 0 {
        a.n_wrong as f32 / n as f32
    } else {
        0.0
    };
    let mut seen = a.seen.clone();
    seen.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| y.1.total_cmp(&x.1)));
    let examples = seen
        .iter()
        .take(max_examples)
        .map(|&(_, share, i)| ExampleRef {
            index: i,
            text: items[i].0.text.clone(),
            gold: items[i].1.clone(),
            predicted: items[i].0.predicted.clone(),
            share,
        })
        .collect();
    WordStats {
        word: word.to_string(),
        n_correct: a.n_correct,
        n_wrong: a.n_wrong,
        mass_correct: a.mass_correct as f32,
        mass_wrong: a.mass_wrong as f32,
        wrong_mass_share: if total > 0.0 {
            (a.mass_wrong / total) as f32
        } else {
            0.0
        },
        wrong_rate,
        lift: if class_error_rate > 0.0 {
            wrong_rate / class_error_rate
        } else {
            0.0
        },
        examples,
    }
}
