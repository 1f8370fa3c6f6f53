//! `quotaswarm run --transcript DIR`: one JSON-lines file per agent with what it asked
//! and was answered. Runs the binary once on the simulator (a second or two).

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_quotaswarm");

#[test]
fn each_agent_gets_a_transcript_of_its_asks_and_answers() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("transcript-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(BIN)
        .args([
            "run",
            "--sim",
            "--agents",
            "3",
            "--turns",
            "2",
            "--quiet",
            "--transcript",
        ])
        .arg(&dir)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run quotaswarm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the transcript directory")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut prompts = std::collections::HashSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "two turns in {}: {text}", f.display());
        let agent = f.file_stem().unwrap().to_str().unwrap();
        for l in &lines {
            assert_eq!(l["agent"], agent, "{l}");
            assert!(l["error"].is_null(), "{l}");
            let messages = l["request"]["messages"]
                .as_array()
                .expect("request messages");
            let last = messages.last().unwrap().to_string();
            assert!(prompts.insert(last.clone()), "asked twice: {last}");
            assert!(!l["answer"]["content"].is_null(), "an answer: {l}");
        }
        // The second turn carries the first answer in its history.
        assert!(
            lines[1]["request"]["messages"].as_array().unwrap().len() > 1,
            "{}",
            lines[1]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
