//! What the gateway tests share: the Python interpreter of the SDK virtual environment
//! (created by `.ci/run`), `quotaswarm serve` started as a process on a free loopback
//! port, and a config that points the gateway at a `quotaswarm sim` process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The environment variable naming the virtual environment with `openai` and
/// `anthropic` installed; `target/sdk-venv` of the workspace when unset.
#[allow(dead_code)]
pub const VENV_ENV: &str = "QUOTASWARM_SDK_VENV";

/// The key the gateway sends to the simulator (never seen by clients).
pub const PROVIDER_KEY_ENV: &str = "QUOTASWARM_GATEWAY_TEST_KEY";

/// The SDK environment's python, or `None` (with a loud message) when it is missing
/// outside CI. In CI (`CI=true`) a missing environment fails the test.
#[allow(dead_code)]
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("sdk-venv")
        });
    let python = venv.join("bin").join("python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import openai, anthropic"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let message = format!(
        "the official Python SDKs are not installed in {}: run `bash .ci/run` (or \
         `python3 -m venv target/sdk-venv && target/sdk-venv/bin/pip install openai anthropic`), \
         or set {VENV_ENV}",
        venv.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\nSKIPPED: {message}\n!!!!!!!!!!\n");
    None
}

/// A `quotaswarm serve` process, killed (and reaped) when dropped.
pub type ServeProcess = crate::common::ChildProcess;

/// Starts `quotaswarm serve --addr 127.0.0.1:0 --config <config>`; returns the process
/// and the URL its first line announces.
#[allow(dead_code)]
pub fn start_serve(config: &Path) -> (ServeProcess, String) {
    start_serve_with(config, Stdio::inherit())
}

/// [`start_serve`], its stderr (the access log's) going to `stderr`.
pub fn start_serve_with(config: &Path, stderr: Stdio) -> (ServeProcess, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quotaswarm"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(config)
        .env(PROVIDER_KEY_ENV, "the-provider-key")
        .stderr(stderr);
    crate::common::start_listening(command, "start quotaswarm serve")
}

/// Writes `sim_toml` to `dir/sim.toml` and starts `quotaswarm sim` with it; returns the
/// process and its URL.
#[allow(dead_code)]
pub fn start_sim_in(dir: &Path, sim_toml: &str) -> (crate::common::SimProcess, String) {
    let sim_config = dir.join("sim.toml");
    std::fs::write(&sim_config, sim_toml).expect("write");
    crate::common::start_sim(&sim_config)
}

/// Writes [`config`]`(sim_url, rest)` to `dir/gateway.toml` and starts `quotaswarm serve`
/// with it, its stderr going to `stderr`; returns the process and its URL.
#[allow(dead_code)]
pub fn start_gateway_in(
    dir: &Path,
    sim_url: &str,
    rest: &str,
    stderr: Stdio,
) -> (ServeProcess, String) {
    let config_path = dir.join("gateway.toml");
    std::fs::write(&config_path, config(sim_url, rest)).expect("write");
    start_serve_with(&config_path, stderr)
}

/// Providers of both wires at the simulator `sim_url`, then `rest` (models, ladders,
/// `[gateway]`).
#[allow(dead_code)]
pub fn config(sim_url: &str, rest: &str) -> String {
    format!(
        "replace_defaults = true\n\
         [providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{sim_url}\"\napi_key_env = \"{PROVIDER_KEY_ENV}\"\n\
         [providers.openai]\nkind = \"openai\"\nbase_url = \"{sim_url}\"\napi_key_env = \"{PROVIDER_KEY_ENV}\"\n\
         {rest}"
    )
}

/// The hex SHA-256 of a client key, as `[gateway.clients.*] key_sha256` takes it.
#[allow(dead_code)]
pub fn sha256(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A scratch directory of the test's own.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "quotaswarm-gw-{name}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The path of a script of `cli/tests/gateway/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("gateway")
        .join(name)
}

/// `GET {url}/_stats` of a `quotaswarm sim`, as JSON.
#[allow(dead_code)]
pub fn sim_stats(url: &str) -> serde_json::Value {
    serde_json::from_str(&get(&format!("{url}/_stats"))).expect("sim stats json")
}

/// The body of `GET url` (panics unless it is a 2xx).
#[allow(dead_code)]
pub fn get(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        reqwest::get(url)
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .text()
            .await
            .expect("body")
    })
}

/// Runs a script of `cli/tests/gateway/` with `args`; panics with its output unless it
/// succeeds.
#[allow(dead_code)]
pub fn run_script(python: &Path, script: &str, args: &[&str]) -> Output {
    let path = self::script(script);
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
