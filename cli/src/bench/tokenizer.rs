//! `tokken-cli bench tokenizer`: throughput on the livedoor body lines, as JSON lines:
//! MeCab-equivalent analysis and full encode to ids on one thread, full encode on every
//! pool thread, and — when a `mecab` binary is on PATH — `mecab -Owakati` on the same text
//! with the same dictionary, and our speed as a multiple of it.
//!
//! Shared machines are noisy, so the single-thread passes run in rounds: analysis, encode
//! and MeCab back to back in each round, each ratio taken within its round, and the median
//! over the rounds reported (with the spread). The MB/s lines report each measurement's
//! best round.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokken_tokenizer::{find_dicdir, EncodeOptions, Encoding, Tokenizer};

const DEFAULT_LINES: &str = "shared/ref/tokenize/livedoor-lines.ids.jsonl";
const DEFAULT_MODEL: &str = "shared/ref/bert-base-japanese-v3";

/// Flags of `tokken-cli bench tokenizer`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL with a "text" field per line, or plain text lines
    /// (default: ../shared/ref/tokenize/livedoor-lines.ids.jsonl).
    #[arg(long, value_name = "FILE")]
    lines: Option<PathBuf>,

    /// Use only the first N lines.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Model dir whose tokenizer to time (default: ../shared/ref/bert-base-japanese-v3).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Compiled MeCab dictionary dir (default: found as for `tokenize`).
    #[arg(long, value_name = "DIR")]
    dicdir: Option<PathBuf>,

    /// A user dictionary (MeCab's `-u`); repeatable. tokken and `mecab` both get it, and
    /// those the model's tokenizer_config.json names.
    #[arg(long, value_name = "FILE")]
    userdic: Vec<PathBuf>,

    /// Timed rounds (analysis, encode and MeCab back to back in each); ratios are the
    /// median over the rounds, speeds the best round.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(args: Args) -> Result<()> {
    let lines_path = locate(args.lines.as_deref(), DEFAULT_LINES, "--lines")?;
    let model = locate(args.model.as_deref(), DEFAULT_MODEL, "--model")?;
    let texts = read_texts(&lines_path, args.limit)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bytes: usize = refs.iter().map(|t| t.len()).sum();
    let mb = bytes as f64 / 1e6;
    let dicdir = find_dicdir(args.dicdir.as_deref())?;
    let tok = Tokenizer::from_model_dir_with(&model, Some(&dicdir), &args.userdic)?;
    let repeat = args.repeat.max(1);
    let threads = rayon::current_num_threads();
    let report = |what: &str, threads: usize, t: Timing| {
        let mut v = json!({
            "bench": "tokenizer", "what": what, "threads": threads, "lines": refs.len(),
            "mb": round(mb, 3), "seconds": round(t.wall, 4), "mb_per_s": round(mb / t.wall, 2),
        });
        if let Some(cpu) = t.cpu.filter(|_| threads == 1) {
            v["cpu_seconds"] = json!(round(cpu, 3));
            v["mb_per_cpu_s"] = json!(round(mb / cpu, 2));
        }
        println!("{v}");
    };

    // (a) MeCab-equivalent analysis of the raw lines, (b) full encode to ids (special split,
    // NFKC, MeCab, WordPiece, specials), both on one thread, and (c) MeCab itself on the
    // same text and dictionary when installed: one untimed warm-up, then timed rounds.
    let mut analyzer = tok.analyzer().worker();
    let mut morphemes = Vec::new();
    let mut words = 0usize;
    let mut analyze_all = || {
        words = 0;
        for t in &refs {
            analyzer.analyze(t, &mut morphemes);
            words += morphemes.len();
        }
    };
    let opts = EncodeOptions::default();
    let mut worker = tok.worker();
    let mut enc = Encoding::default();
    let mut tokens = 0usize;
    let mut encode_one_thread = || {
        tokens = 0;
        for t in &refs {
            worker.encode_into(t, None, &opts, &mut enc);
            tokens += enc.len();
        }
    };
    let mecab = MecabRun::prepare(&refs, &dicdir, &tok.config().user_dics)?;
    analyze_all();
    encode_one_thread();
    if let Some(m) = &mecab {
        m.run()?;
    }
    let mut rounds = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let analysis = timed(&mut analyze_all);
        let encode = timed(&mut encode_one_thread);
        let mecab = mecab.as_ref().map(MecabRun::run).transpose()?;
        rounds.push((analysis, encode, mecab));
    }
    report("analysis", 1, best(rounds.iter().map(|r| r.0)));
    report("encode", 1, best(rounds.iter().map(|r| r.1)));

    // (d) full encode on every pool thread.
    let encode_mt = best_of(repeat, || {
        std::hint::black_box(tok.encode_all(&refs, &opts));
    });
    report("encode", threads, encode_mt);

    match rounds.iter().map(|r| r.2).collect::<Option<Vec<Timing>>>() {
        Some(mecab) => {
            let mecab_best = best(mecab.iter().copied());
            report("mecab -Owakati", 1, mecab_best);
            // CPU seconds when every run has them (a 0 is below the clock's resolution),
            // else wall seconds for all: never a mix.
            let has_cpu = |t: Timing| t.cpu.is_some_and(|c| c > 0.0);
            let cpu = rounds.iter().all(|r| has_cpu(r.0) && has_cpu(r.1))
                && mecab.iter().all(|&m| has_cpu(m));
            let secs = |t: Timing| if cpu { t.cpu.unwrap_or(t.wall) } else { t.wall };
            let ratios = |ours: fn(&Round) -> Timing| {
                let x: Vec<f64> = rounds
                    .iter()
                    .zip(&mecab)
                    .map(|(r, m)| secs(*m) / secs(ours(r)))
                    .collect();
                Spread::of(&x)
            };
            let analysis_x = ratios(|r| r.0);
            let encode_x = ratios(|r| r.1);
            println!(
                "{}",
                json!({
                    "bench": "tokenizer", "what": "vs mecab -Owakati",
                    "basis": if cpu { "cpu seconds" } else { "wall seconds" },
                    "rounds": rounds.len(),
                    "analysis_x": round(analysis_x.median, 2),
                    "analysis_x_range": [round(analysis_x.min, 2), round(analysis_x.max, 2)],
                    "encode_x": round(encode_x.median, 2),
                    "encode_x_range": [round(encode_x.min, 2), round(encode_x.max, 2)],
                    "encode_all_threads_x": round(mecab_best.wall / encode_mt.wall, 2),
                    "targets": {"analysis_x": 3.0, "encode_x": 2.5},
                })
            );
        }
        None => println!(
            "{}",
            json!({"bench": "tokenizer", "what": "mecab -Owakati", "skipped": "no `mecab` on PATH"})
        ),
    }
    eprintln!("({words} MeCab words, {tokens} tokens)");
    Ok(())
}

/// `explicit`, else `default` under the current dir's parent or the current dir.
fn locate(explicit: Option<&Path>, default: &str, flag: &str) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    for base in ["..", "."] {
        let p = Path::new(base).join(default);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("../{default} not found; pass {flag}")
}

/// Texts of a JSONL file (`"text"` field) or of a plain-text file (one per line).
fn read_texts(path: &Path, limit: Option<usize>) -> Result<Vec<String>> {
    let content =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut texts = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if limit.is_some_and(|n| texts.len() >= n) {
            break;
        }
        if line.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
            let text = v["text"].as_str().with_context(|| {
                format!(
                    "{}:{}: missing string field \"text\"",
                    path.display(),
                    i + 1
                )
            })?;
            texts.push(text.to_string());
        } else {
            texts.push(line.to_string());
        }
    }
    Ok(texts)
}

/// Wall and CPU seconds of one measurement (CPU: this thread's, or the children's for
/// `mecab`; `None` where `/proc` is unavailable). On a shared, loaded machine the CPU time
/// is the fairer basis for comparing single-threaded speeds.
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: Option<f64>,
}

/// One round's single-thread times: analysis, encode, MeCab (when installed).
type Round = (Timing, Timing, Option<Timing>);

/// Wall and thread CPU time of one run of `f`.
fn timed(mut f: impl FnMut()) -> Timing {
    let cpu0 = thread_cpu_seconds();
    let t = Instant::now();
    f();
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu0.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
    Timing { wall, cpu }
}

/// The fastest of `times` (by wall time).
fn best(times: impl Iterator<Item = Timing>) -> Timing {
    times
        .min_by(|a, b| a.wall.total_cmp(&b.wall))
        .unwrap_or(Timing {
            wall: f64::INFINITY,
            cpu: None,
        })
}

/// Best of `repeat` runs of `f` (by wall time), after one untimed warm-up run.
fn best_of(repeat: usize, mut f: impl FnMut()) -> Timing {
    f();
    best((0..repeat).map(|_| timed(&mut f)))
}

/// Median and range of a few ratios.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(x: &[f64]) -> Spread {
        let mut v = x.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Spread {
            median,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// utime + stime of `/proc/<which>/stat`, in seconds (clock ticks of 1/100 s).
fn proc_cpu_seconds(which: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).ok()?;
    // Fields after the parenthesised command name; utime is field 14, cutime 16.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let (u, s) = if children { (13, 14) } else { (11, 12) };
    let ticks: f64 = fields.get(u)?.parse::<f64>().ok()? + fields.get(s)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU time of this thread: nanoseconds from `/proc/thread-self/schedstat` (ticks of
/// `/proc/thread-self/stat` are too coarse for short inputs), else the ticks.
fn thread_cpu_seconds() -> Option<f64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok();
    match schedstat
        .as_deref()
        .and_then(|s| s.split_whitespace().next())
    {
        Some(ns) => ns.parse::<f64>().ok().map(|ns| ns / 1e9),
        None => proc_cpu_seconds("thread-self", false),
    }
}

/// `mecab -d DICDIR [-u USERDICS] -Owakati` over the texts (one per line, in a temp file
/// removed on drop).
struct MecabRun {
    input: PathBuf,
    dicdir: PathBuf,
    rc: PathBuf,
    /// `-u` argument: the user dictionaries joined by commas, if any.
    user: Option<String>,
}

impl MecabRun {
    /// Writes the input file; `None` when no `mecab` runs.
    fn prepare(texts: &[&str], dicdir: &Path, user: &[PathBuf]) -> Result<Option<MecabRun>> {
        if Command::new("mecab").arg("--version").output().is_err() {
            return Ok(None);
        }
        let input = std::env::temp_dir().join(format!("tokken-bench-{}.txt", std::process::id()));
        // MeCab reads lines: drop the newlines a text could hold so line counts agree.
        let body: String = texts
            .iter()
            .flat_map(|t| [t.replace(['\n', '\r'], " "), "\n".to_string()])
            .collect();
        std::fs::write(&input, body).with_context(|| format!("writing {}", input.display()))?;
        let rc = dicdir.join("mecabrc");
        let rc = if rc.exists() {
            rc
        } else {
            PathBuf::from("/dev/null")
        };
        let user = (!user.is_empty()).then(|| {
            let names: Vec<String> = user.iter().map(|p| p.display().to_string()).collect();
            names.join(",")
        });
        Ok(Some(MecabRun {
            input,
            dicdir: dicdir.to_path_buf(),
            rc,
            user,
        }))
    }

    /// One run: wall time and the child's CPU time.
    fn run(&self) -> Result<Timing> {
        let cpu0 = proc_cpu_seconds("self", true);
        let t = Instant::now();
        let out = Command::new("mecab")
            .arg("-d")
            .arg(&self.dicdir)
            .arg("-r")
            .arg(&self.rc)
            .args(self.user.iter().flat_map(|u| ["-u", u.as_str()]))
            .args(["-Owakati", "-o", "/dev/null"])
            .arg(&self.input)
            .output()
            .context("running mecab")?;
        let wall = t.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("mecab failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let cpu = cpu0.zip(proc_cpu_seconds("self", true)).map(|(a, b)| b - a);
        Ok(Timing { wall, cpu })
    }
}

impl Drop for MecabRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.input);
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}
