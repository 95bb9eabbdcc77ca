//! BERT input embeddings: `out[b, t] = word[id] + position[t] + token_type[type_id]`.
//! (LayerNorm and dropout that follow in HF `BertEmbeddings` are separate ops.)

use rayon::prelude::*;

/// Asserts every id is below `rows` (the model validates ids before calling, so a bad id
/// here is a programming error).
fn check_ids(ids: &[u32], rows: usize, what: &str) {
    if let Some((pos, &id)) = ids.iter().enumerate().find(|(_, &id)| id as usize >= rows) {
        panic!(
            "embedding: {what} id {id} at position {pos} is out of range (table has {rows} rows)"
        );
    }
}

/// Embedding lookup and sum.
///
/// - `out`: `[B, T, C]`; `ids`, `type_ids`: `[B, T]`
/// - `word`: `[V, C]`, `position`: `[P, C]` with `P >= T`, `token_type`: `[TV, C]`
#[allow(clippy::too_many_arguments)]
pub fn embedding_forward(
    out: &mut [f32],
    ids: &[u32],
    type_ids: &[u32],
    word: &[f32],
    position: &[f32],
    token_type: &[f32],
    b: usize,
    t: usize,
    c: usize,
) {
    assert_eq!(
        out.len(),
        b * t * c,
        "embedding_forward: out must be [B, T, C]"
    );
    assert!(
        ids.len() == b * t && type_ids.len() == b * t,
        "embedding_forward: ids/type_ids must be [B, T]"
    );
    if c == 0 {
        return;
    }
    assert!(
        word.len().is_multiple_of(c)
            && position.len().is_multiple_of(c)
            && token_type.len().is_multiple_of(c),
        "embedding_forward: tables must have C = {c} columns"
    );
    assert!(
        position.len() / c >= t,
        "embedding_forward: T = {t} exceeds the {} positions",
        position.len() / c
    );
    check_ids(ids, word.len() / c, "word");
    check_ids(type_ids, token_type.len() / c, "token type");
    out.par_chunks_mut(c).enumerate().for_each(|(tok, o)| {
        let pos = tok % t;
        let w = &word[ids[tok] as usize * c..][..c];
        let p = &position[pos * c..][..c];
        let tt = &token_type[type_ids[tok] as usize * c..][..c];
        for (((ov, &a), &bv), &cv) in o.iter_mut().zip(w).zip(p).zip(tt) {
            *ov = a + bv + cv;
        }
    });
}

/// Backward of [`embedding_forward`]: scatter-adds `dout` into the table gradients
/// (`+=`). A `None` table is frozen and skipped.
///
/// Work is split over column ranges, so each task owns disjoint gradient entries and
/// accumulates tokens in order (deterministic, no atomics).
#[allow(clippy::too_many_arguments)]
pub fn embedding_backward(
    dword: Option<&mut [f32]>,
    dposition: Option<&mut [f32]>,
    dtoken_type: Option<&mut [f32]>,
    dout: &[f32],
    ids: &[u32],
    type_ids: &[u32],
    b: usize,
    t: usize,
    c: usize,
) {
    assert_eq!(
        dout.len(),
        b * t * c,
        "embedding_backward: dout must be [B, T, C]"
    );
    assert!(
        ids.len() == b * t && type_ids.len() == b * t,
        "embedding_backward: ids/type_ids must be [B, T]"
    );
    if c == 0 {
        return;
    }
    if let Some(dw) = dword {
        check_ids(ids, dw.len() / c, "word");
        scatter_add(dw, dout, |tok| ids[tok] as usize, b * t, c);
    }
    if let Some(dp) = dposition {
        assert!(
            dp.len() / c >= t,
            "embedding_backward: T = {t} exceeds the {} positions",
            dp.len() / c
        );
        scatter_add(dp, dout, |tok| tok % t, b * t, c);
    }
    if let Some(dt) = dtoken_type {
        check_ids(type_ids, dt.len() / c, "token type");
        scatter_add(dt, dout, |tok| type_ids[tok] as usize, b * t, c);
    }
}

/// Column block per task in [`scatter_add`].
const COLS_PER_TASK: usize = 64;

/// `table[row_of(tok), :] += dout[tok, :]` for every token, parallel over column blocks.
fn scatter_add(
    table: &mut [f32],
    dout: &[f32],
    row_of: impl Fn(usize) -> usize + Sync,
    n_tok: usize,
    c: usize,
) {
    let n_blocks = c.div_ceil(COLS_PER_TASK);
    let table_w = super::vectorize::DisjointMut::new(table);
    (0..n_blocks).into_par_iter().for_each(|blk| {
        let c0 = blk * COLS_PER_TASK;
        let w = COLS_PER_TASK.min(c - c0);
        for tok in 0..n_tok {
            // SAFETY: columns c0..c0+w of every row belong to this block's task only.
            let dst = unsafe { table_w.slice(row_of(tok) * c + c0, w) };
            for (d, s) in dst.iter_mut().zip(&dout[tok * c + c0..tok * c + c0 + w]) {
                *d += s;
            }
        }
    });
}
