//! `quotaswarm run`'s arguments: bad input is refused at once, with a message that says
//! what to give instead.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quotaswarm"))
        .arg("run")
        .args(args)
        .output()
        .expect("run quotaswarm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn zero_agents_is_refused() {
    let (ok, stderr) = run(&["--agents", "0"]);
    assert!(!ok);
    assert!(
        stderr.contains("invalid value '0' for '--agents <N>': must be at least 1"),
        "{stderr}"
    );
    let (ok, stderr) = run(&["--agents", "2", "--turns", "0"]);
    assert!(!ok);
    assert!(stderr.contains("must be at least 1"), "{stderr}");
}

#[test]
fn turns_without_agents_is_refused_instead_of_replacing_the_demo() {
    let (ok, stderr) = run(&["--turns", "2"]);
    assert!(!ok);
    assert!(stderr.contains("--agents <N>"), "{stderr}");
    assert!(stderr.contains("required"), "{stderr}");
}
