//! tokken-tokenizer: MeCab-compatible analyzer + BertJapaneseTokenizer encoding.
