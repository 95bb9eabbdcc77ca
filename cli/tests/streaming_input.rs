//! `tokenize` and `predict` reading standard input answer each line as it arrives: a program
//! that writes one line and waits for its answer must get it before it closes the pipe.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use common::{command, tiny_dir};

/// Writes `texts` one at a time to `subcommand --model tiny` and checks each gets its own
/// answer line while standard input is still open; then closes it and expects success.
fn answers_each_line_at_once(subcommand: &str, texts: &[&str]) {
    if tokken_tokenizer::find_dicdir(None).is_err() {
        eprintln!("skipping: no MeCab dictionary");
        return;
    }
    let mut child = command()
        .arg(subcommand)
        .arg("--model")
        .arg(tiny_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tokken-cli runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    for text in texts {
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
        // Generous: the first answer includes loading; the point is that it comes at all
        // before the input ends (an input read to its end would never answer here).
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(answer) => assert!(!answer.is_empty(), "{subcommand}: empty answer"),
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("{subcommand}: no answer to {text:?} while the input stayed open");
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{subcommand}: exited early: {:?}", child.wait())
            }
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(rx.recv().is_err(), "{subcommand}: one answer per line");
}

#[test]
fn tokenize_answers_each_line_as_it_arrives() {
    answers_each_line_at_once("tokenize", &["あいうえお", "かきくけこ", "ん"]);
}

#[test]
fn predict_answers_each_line_as_it_arrives() {
    // The third line comes after the weights were packed (the second pass packs them).
    answers_each_line_at_once("predict", &["あいうえお", "かきくけこ", "さしすせそ"]);
}
