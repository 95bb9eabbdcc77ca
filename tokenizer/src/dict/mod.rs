//! Readers for compiled MeCab dictionary binaries (being built).
