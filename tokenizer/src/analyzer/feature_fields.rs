//! Splitting a MeCab feature string into its CSV fields.

use std::borrow::Cow;

/// The comma-separated fields of a feature string, CSV-unquoted: unidic writes fields that
/// hold a comma in double quotes (`*,"1,0",C1`), with `""` for a literal quote. This is
/// what fugashi hands to Python (`node.feature`), where `feature` strings stay raw.
/// An empty string has no fields; `n` top-level commas give `n + 1` fields.
pub fn feature_fields(feature: &str) -> FeatureFields<'_> {
    FeatureFields {
        rest: feature,
        done: feature.is_empty(),
    }
}

/// Iterator returned by [`feature_fields`].
#[derive(Clone, Debug)]
pub struct FeatureFields<'a> {
    rest: &'a str,
    done: bool,
}

impl<'a> Iterator for FeatureFields<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        if self.done {
            return None;
        }
        let s = self.rest;
        let (field, after) = if let Some(quoted) = s.strip_prefix('"') {
            // Up to the closing quote ("" is an escaped quote), then skip to the comma.
            let bytes = quoted.as_bytes();
            let mut i = 0;
            let mut escaped = false;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        escaped = true;
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            let inner = &quoted[..i];
            let field = if escaped {
                Cow::Owned(inner.replace("\"\"", "\""))
            } else {
                Cow::Borrowed(inner)
            };
            let tail = quoted.get(i + 1..).unwrap_or("");
            (field, tail.find(',').map(|c| &tail[c..]))
        } else {
            match s.find(',') {
                Some(c) => (Cow::Borrowed(&s[..c]), Some(&s[c..])),
                None => (Cow::Borrowed(s), None),
            }
        };
        match after {
            Some(rest) => self.rest = &rest[1..],
            None => self.done = true,
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Vec<String> {
        feature_fields(s).map(|f| f.into_owned()).collect()
    }

    #[test]
    fn splits_and_unquotes() {
        assert_eq!(fields("a,b,*"), ["a", "b", "*"]);
        assert_eq!(fields("*,\"1,0\",C1"), ["*", "1,0", "C1"]);
        assert_eq!(fields("\"x\"\"y\",z"), ["x\"y", "z"]);
        assert_eq!(fields("a,"), ["a", ""]);
        assert_eq!(fields("\"a,b\""), ["a,b"]);
        assert!(fields("").is_empty());
    }
}
