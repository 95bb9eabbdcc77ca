//! The HTML report rendered by headless Chromium: every figure is in the rendered DOM,
//! Japanese text and escaped markup come through as text, the page loads nothing from
//! outside and logs no console errors. Skips (with a message) when Chromium is absent;
//! CI installs Debian's `chromium` (`.ci/run`).

mod report_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("TOKKEN_CHROMIUM").unwrap_or_default(),
        "/usr/bin/chromium".into(),
        "/usr/bin/chromium-browser".into(),
        "/usr/bin/google-chrome".into(),
    ];
    let found = candidates
        .iter()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        println!("skipping: chromium not found (apt-get install chromium, or set TOKKEN_CHROMIUM)");
    }
    found
}

/// Run Chromium headless on `page` with `extra` flags; (stdout, stderr). Killed after 90 s.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[String]) -> (String, String) {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let (out_t, err_t) = (read(Box::new(out)), read(Box::new(err)));
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (out_t.join().unwrap(), err_t.join().unwrap())
}

/// Console errors and failed loads in Chromium's log.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("Uncaught")
                || l.contains("ERROR:CONSOLE")
                || (l.contains(":CONSOLE(") && l.contains("rror"))
                || l.contains("Failed to load resource")
                || l.contains("net::ERR_")
        })
        .collect()
}

#[test]
fn report_renders_in_headless_chromium() {
    let tmp = report_fixture::scratch("report-chromium");
    let dir = tmp.path();
    let report = report_fixture::report(&dir.join("run"));
    let page = dir.join("report.html");
    report.write_html(&page).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: no scripts, no external URLs, fonts or stylesheets.
    for banned in ["http://", "https://", "<script", "@import", "url(", "<link"] {
        assert!(!html.contains(banned), "report contains {banned:?}");
    }
    assert!(html.contains("<meta charset=\"utf-8\">"));

    let Some(bin) = chromium() else { return };
    let (dom, log) = run_chromium(&bin, &dir.join("profile"), &page, &["--dump-dom".into()]);
    for id in [
        "confusion-matrix",
        "per-class-bars",
        "reliability-diagram",
        "reliability-diagonal",
        "training-curves",
        "train-loss",
        "eval-accuracy",
        "eval-macro-f1",
        "summary",
        "per-class",
        "slices",
        "misclassified",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "rendered DOM lacks #{id}"
        );
    }
    // 4 × 4 heatmap cells, 3 bars per class, a reliability bar per non-empty bin.
    assert_eq!(dom.matches("class=\"cell\"").count(), 16);
    assert_eq!(dom.matches("class=\"bar\"").count(), 12);
    let bins = report
        .metrics
        .calibration
        .as_ref()
        .unwrap()
        .bins
        .iter()
        .filter(|b| b.count > 0)
        .count();
    assert_eq!(dom.matches("class=\"bin\"").count(), bins);
    // Japanese text survives; markup in the data stays text (escaped), never elements.
    assert!(dom.contains("スポーツ") && dom.contains("首相が"));
    assert!(dom.contains("&lt;b&gt;会見&lt;/b&gt;"));
    assert!(!dom.contains("<b>会見</b>"));
    let errors = console_errors(&log);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // A screenshot renders (look at it: the path is printed).
    let png = dir.join("report.png");
    let (_, log) = run_chromium(
        &bin,
        &dir.join("profile2"),
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2600".into(),
            "--hide-scrollbars".into(),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 20_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );
    let errors = console_errors(&log);
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    println!("screenshot: {}", png.display());
}
