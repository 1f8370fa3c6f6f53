//! Ctrl-C and SIGTERM during a run: the first signal interrupts it (the agents are cut
//! and the partial report printed), a second one exits at once.

use crate::exit::{Exit, Signal};
use tokio::sync::watch;

/// Listens for SIGINT and SIGTERM from its creation on. Cheap to clone.
#[derive(Clone)]
pub struct Interrupts {
    first: watch::Receiver<Option<Signal>>,
}

impl Interrupts {
    /// Takes over SIGINT and SIGTERM: the first one is recorded (see
    /// [`Interrupts::first`]); the second exits the process at once with its code.
    pub fn listen() -> std::io::Result<Interrupts> {
        let mut signals = SignalStream::new()?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let first = signals.next().await;
            let _ = tx.send(Some(first));
            // The offer to quit at once is for a person at the keyboard; SIGTERM comes
            // from a supervisor, which waits for the report or kills.
            match first {
                Signal::Int => eprintln!(
                    "\nquotaswarm: interrupted: cutting the agents, then the report (Ctrl-C again to quit at once)"
                ),
                Signal::Term => eprintln!(
                    "\nquotaswarm: interrupted by SIGTERM: cutting the agents, then the report"
                ),
            }
            let second = signals.next().await;
            std::process::exit(i32::from(Exit::Interrupted(second).code()));
        });
        Ok(Interrupts { first: rx })
    }

    /// Resolves with the first signal (at once if it has come already).
    pub async fn first(mut self) -> Option<Signal> {
        self.first
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|s| *s)
    }

    /// The first signal, if one has come.
    pub fn received(&self) -> Option<Signal> {
        *self.first.borrow()
    }
}

#[cfg(unix)]
struct SignalStream {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl SignalStream {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(SignalStream {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::Int,
            _ = self.term.recv() => Signal::Term,
        }
    }
}

#[cfg(not(unix))]
struct SignalStream;

#[cfg(not(unix))]
impl SignalStream {
    fn new() -> std::io::Result<Self> {
        Ok(SignalStream)
    }

    async fn next(&mut self) -> Signal {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Int,
            Err(_) => std::future::pending().await,
        }
    }
}
