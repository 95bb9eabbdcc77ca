//! Names of UniDic's feature fields, as fugashi's `UnidicFeatures17/26/29` name them (the
//! layouts of UniDic 2.1.2 / unidic-lite, and of the full UniDic 3.x).

/// UniDic 2.1.2 with 17 fields.
const UNIDIC_17: [&str; 17] = [
    "pos1", "pos2", "pos3", "pos4", "cType", "cForm", "lForm", "lemma", "orth", "pron", "orthBase",
    "pronBase", "goshu", "iType", "iForm", "fType", "fForm",
];

/// unidic-lite / UniDic 2.1.2 with 26 fields (the v3 models' dictionary).
const UNIDIC_26: [&str; 26] = [
    "pos1",
    "pos2",
    "pos3",
    "pos4",
    "cType",
    "cForm",
    "lForm",
    "lemma",
    "orth",
    "pron",
    "orthBase",
    "pronBase",
    "goshu",
    "iType",
    "iForm",
    "fType",
    "fForm",
    "kana",
    "kanaBase",
    "form",
    "formBase",
    "iConType",
    "fConType",
    "aType",
    "aConType",
    "aModeType",
];

/// UniDic 3.x with 29 fields.
const UNIDIC_29: [&str; 29] = [
    "pos1", "pos2", "pos3", "pos4", "cType", "cForm", "lForm", "lemma", "orth", "pron", "orthBase",
    "pronBase", "goshu", "iType", "iForm", "fType", "fForm", "iConType", "fConType", "type",
    "kana", "kanaBase", "form", "formBase", "aType", "aConType", "aModType", "lid", "lemma_id",
];

/// The field names of a UniDic whose known words have `count` feature fields, as fugashi
/// picks them by that count; `None` for other dictionaries (ipadic, jumandic), whose
/// fields have no names here.
pub fn unidic_field_names(count: usize) -> Option<&'static [&'static str]> {
    match count {
        17 => Some(&UNIDIC_17),
        26 => Some(&UNIDIC_26),
        29 => Some(&UNIDIC_29),
        _ => None,
    }
}
