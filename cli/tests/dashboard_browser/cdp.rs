//! A headless Chromium driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands on the browser's fd 3, answers on its fd 4, each
//! message JSON ended by a NUL byte), so one page can be watched live in real time: no
//! WebSocket client, no port of its own.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long one protocol command may take: generous, for a busy 2-core machine.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium to use: `$CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// A running browser with one page attached. Closing (or dropping) it ends the browser.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: Receiver<Value>,
    next_id: u64,
    session: String,
    stderr_log: PathBuf,
}

impl Browser {
    /// Starts `chromium` headless with a fresh profile in `profile` and opens `url` in a
    /// page of `width` × `height` CSS pixels.
    pub fn open(chromium: &Path, profile: &Path, url: &str, width: u32, height: u32) -> Browser {
        std::fs::create_dir_all(profile).expect("profile dir");
        let stderr_log = profile.join("chromium.stderr");
        let stderr = std::fs::File::create(&stderr_log).expect("stderr log");
        // std gives a child only fds 0-2; the shell moves our two pipes to the 3 and 4
        // that `--remote-debugging-pipe` reads and writes, then execs the browser (so the
        // child we hold is the browser itself).
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg("sh")
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start chromium");
        let commands = child.stdin.take().expect("pipe to chromium");
        let out = child.stdout.take().expect("pipe from chromium");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            loop {
                let mut msg = Vec::new();
                match out.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        msg.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&msg) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            session: String::new(),
            stderr_log,
        };
        let target = browser.browser_call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        browser.resize(width, height, false);
        browser.call("Page.enable", json!({}));
        browser.call("Page.navigate", json!({ "url": url }));
        browser
    }

    /// Sets the page's viewport (`mobile` also turns on the phone's meta-viewport rules).
    pub fn resize(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// Evaluates `expression` in the page and returns its value (JSON-serialisable), or
    /// `None` while it cannot: it threw, or the page is between documents (navigating).
    /// Callers poll.
    pub fn eval(&mut self, expression: &str) -> Option<Value> {
        let session = self.session.clone();
        let r = self
            .send(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
                Some(&session),
            )
            .ok()?;
        if r.get("exceptionDetails").is_some() {
            return None;
        }
        Some(r["result"]["value"].clone())
    }

    /// The rendered DOM, serialised (`None` while there is no document yet).
    pub fn dom(&mut self) -> Option<String> {
        self.eval("document.documentElement ? document.documentElement.outerHTML : null")?
            .as_str()
            .map(str::to_string)
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot")
    }

    /// A PNG of the whole page, however long, at the current viewport width.
    pub fn screenshot_full_page(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let size = &m["cssContentSize"];
        let clip = json!({
            "x": 0, "y": 0, "scale": 1,
            "width": size["width"].as_f64().unwrap_or(1280.0),
            "height": size["height"].as_f64().unwrap_or(900.0),
        });
        let r = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }),
        );
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot")
    }

    /// A command to the attached page; its failure fails the test.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Sends one command and waits for its answer: `Err` with the protocol's error
    /// object when the browser refused it. A browser that stops answering fails the test.
    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        if let Err(e) = self
            .commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
        {
            panic!(
                "{method}: cannot write to chromium: {e}{}",
                self.stderr_tail()
            );
        }
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                // Events (no id) and answers to nothing we wait for are skipped.
                Ok(v) if v["id"].as_u64() == Some(id) => {
                    return match v.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(v["result"].clone()),
                    };
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{method}: no answer within {CALL_TIMEOUT:?}{}",
                        self.stderr_tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{method}: chromium closed its pipe{}", self.stderr_tail())
                }
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "\n--- chromium stderr (last lines) ---\n{}",
            lines[lines.len().saturating_sub(20)..].join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely (the browser then takes its renderers down with it), then insist.
        self.next_id += 1;
        let mut bytes =
            serde_json::to_vec(&json!({ "id": self.next_id, "method": "Browser.close" }))
                .unwrap_or_default();
        bytes.push(0);
        let _ = self.commands.write_all(&bytes);
        let _ = self.commands.flush();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
