//! Which bf16 GEMM path runs by default: the measured choice and the `TOKKEN_BF16_KERNEL`
//! override. The choice is made once per process, so each case runs this test binary again
//! as a child with the variable set, and the child reports what it chose.

use std::process::Command;

use tokken_kernels::cpu::gemm::{selected_bf16_kernel, Bf16Kernel, Kernel};

/// Child side: print the chosen path (run by the tests below, ignored on its own).
#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_prints_choice() {
    println!("\nCHOSEN={}", selected_bf16_kernel());
}

/// The path a child process with `TOKKEN_BF16_KERNEL=value` (or unset) chooses.
fn choice_in_child(value: Option<&str>) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_prints_choice", "--ignored", "--nocapture"]);
    cmd.env_remove("TOKKEN_BF16_KERNEL");
    if let Some(v) = value {
        cmd.env("TOKKEN_BF16_KERNEL", v);
    }
    let out = cmd.output().expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    let line = stdout.lines().find_map(|l| l.strip_prefix("CHOSEN="));
    line.expect("child printed its choice").to_string()
}

#[test]
fn override_forces_either_path_where_both_run() {
    let native = Bf16Kernel::Avx512Bf16;
    let widened = Bf16Kernel::F32(Kernel::best());
    assert_eq!(choice_in_child(Some("f32")), widened.name());
    let want_native = if native.is_available() {
        native.name()
    } else {
        // Forcing a path this CPU cannot run must not pick it.
        widened.name()
    };
    assert_eq!(choice_in_child(Some("vdpbf16ps")), want_native);
}

#[test]
fn default_is_one_of_the_paths_and_an_unknown_value_falls_back_to_it() {
    let default = choice_in_child(None);
    let names: Vec<&str> = Bf16Kernel::available().iter().map(|k| k.name()).collect();
    assert!(
        names.contains(&default.as_str()),
        "{default} not in {names:?}"
    );
    println!("default bf16 path here: {default}");
    if !Bf16Kernel::Avx512Bf16.is_available() {
        assert_eq!(default, Bf16Kernel::F32(Kernel::best()).name());
    }
    // A misspelt value warns and measures; the measurement may differ from run to run only
    // where the two paths are equally fast, which is not so on any CPU we know.
    assert_eq!(choice_in_child(Some("vdpbf16")), default);
}
