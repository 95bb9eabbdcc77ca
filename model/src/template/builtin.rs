//! The built-in templates. The Japanese steps were written for this project: they spell out
//! how a person sorts a headline — read its structure (who, what, where; a dropped subject),
//! decide the main topic, then pick the category and subcategory.

use super::{Template, TemplateMode};

/// Built-in names, for `--template` and messages.
pub const NAMES: [&str; 4] = ["none", "cot-ja", "cot-ja-prefix", "cot-hier"];

/// The reasoning steps of `cot-ja` (segment A).
pub const COT_JA_STEPS: &str =
    "手順: 1. 見出しの構造を読む（誰が・どこで・何をしたか、省略された主語も補う） \
2. 主題を一つに決める（出来事の中心は何か） 3. 主題からカテゴリを決め、サブカテゴリを選ぶ";

/// `cot-ja` as one sequence: the steps, then the headline.
pub const COT_JA_PREFIX: &str = "手順: 1. 見出しの構造を読む 2. 主題を一つに決める \
3. カテゴリとサブカテゴリを選ぶ。見出し: {text}";

/// `cot-hier`: the steps walk down the levels of the hierarchy in use (`{levels}`).
pub const COT_HIER_STEPS: &str = "手順: 1. 見出しの構造を読む（誰が・どこで・何をしたか） \
2. 主題を一つに決める 3. 上の階層から順に選ぶ: {levels}";

/// The built-in template `name`, if there is one.
pub fn builtin(name: &str) -> Option<Template> {
    let (mode, steps) = match name {
        "none" => (TemplateMode::Prefix, super::TEXT_SLOT),
        "cot-ja" => (TemplateMode::Pair, COT_JA_STEPS),
        "cot-ja-prefix" => (TemplateMode::Prefix, COT_JA_PREFIX),
        "cot-hier" => (TemplateMode::Pair, COT_HIER_STEPS),
        _ => return None,
    };
    Some(Template {
        name: name.to_string(),
        mode,
        steps: steps.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::LabelTree;

    #[test]
    fn every_builtin_passes_the_file_rules() {
        for name in NAMES {
            let t = builtin(name).unwrap();
            let json = serde_json::to_string(&t).unwrap();
            let back: Template = serde_json::from_str(&json).unwrap();
            assert_eq!(back, t, "{name}");
        }
        assert!(builtin("none").unwrap().is_identity());
        assert!(builtin("cot-ja").is_some_and(|t| !t.is_identity()));
    }

    #[test]
    fn cot_hier_names_the_levels() {
        let mut t = builtin("cot-hier").unwrap();
        let labels: Vec<String> = ["国内/政治", "国際/経済", "スポーツ"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        t.expand_levels(&LabelTree::from_labels(&labels));
        assert!(!t.steps.contains("{levels}"));
        assert!(t
            .steps
            .ends_with("第1階層（国内、国際、スポーツ） → 第2階層（国内: 政治／国際: 経済）"));
    }
}
