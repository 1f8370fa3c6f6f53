//! Running a scenario to the end: the swarm built and started, the stats server, the
//! status line ticking, an interrupt cutting the agents, and the report.

use super::progress::with_cut;
use super::{Progress, Scenario, ScenarioError};
use quotaswarm::config::Config;
use quotaswarm::swarm::{status_line, Backend, BuiltSwarm, Swarm, SwarmReport};

impl Scenario {
    /// Runs this scenario to the end: a status line on stderr while it runs (as
    /// `opts.progress` says), and `opts.stats_addr` serves the broker's statistics
    /// meanwhile.
    pub async fn run(
        &self,
        config: Config,
        backend: Backend,
        opts: RunOptions,
    ) -> Result<SwarmReport, ScenarioError> {
        let t0 = tokio::time::Instant::now();
        let BuiltSwarm {
            swarm,
            crew,
            deadline,
            ..
        } = self.builder(config, backend)?.build().await?;
        if let Some(f) = opts.on_start {
            f(&swarm);
        }
        let stats_server = match opts.stats_addr {
            Some(addr) => match swarm.serve_stats(addr).await {
                Ok(server) => Some(server),
                Err(e) => {
                    swarm.shutdown().await;
                    return Err(e.into());
                }
            },
            None => None,
        };
        if let Some(s) = &stats_server {
            let line = format!(
                "stats on {}  (watch: quotaswarm top --addr {})",
                s.url(),
                s.addr
            );
            if opts.stdout_reserved {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        let total = crew.len();
        let done = crew.done_counter();
        let interrupter = opts.interrupt.map(|signal| {
            let interrupter = crew.interrupter();
            tokio::spawn(async move {
                signal.await;
                interrupter.interrupt();
            })
        });
        let started = crew.start();
        let progress = opts.progress;
        let ticker = progress.every().map(|every| {
            let handle = swarm.handle();
            tokio::spawn(async move {
                let first = tokio::time::Instant::now() + progress.first_after();
                let mut ticks = tokio::time::interval_at(first, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Ok(stats) = handle.stats().await {
                        let d = done.load(std::sync::atomic::Ordering::Relaxed);
                        progress.show(&status_line(&stats, d, total, started.elapsed()));
                    }
                }
            })
        });
        let outcome = crew.wait(started, deadline).await;
        if let Some(t) = interrupter {
            t.abort();
        }
        if let Some(t) = ticker {
            t.abort();
            if let Ok(stats) = swarm.handle().stats().await {
                // Agents cut by the deadline or an interrupt did not finish: say so.
                let cut = outcome.reports.iter().filter(|r| r.cut.is_some()).count();
                let done = total - cut.min(total);
                let line = status_line(&stats, done, total, started.elapsed());
                progress.finish(&with_cut(&line, done, total, cut));
            }
        }
        let report = swarm.report(outcome, t0.elapsed()).await;
        if let Some(s) = stats_server {
            let _ = s.shutdown().await;
        }
        swarm.shutdown().await;
        Ok(report)
    }
}

/// Called once the swarm is up, before its agents start.
pub type OnStart = Box<dyn FnOnce(&Swarm) + Send>;

/// Resolves when the run should be interrupted (e.g. on Ctrl-C).
pub type Interrupt = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Options of [`Scenario::run`].
#[derive(Default)]
pub struct RunOptions {
    /// The status line on stderr while the run goes.
    pub progress: Progress,
    /// Serve `/stats` and `/metrics` here while the run goes (announced on stdout).
    pub stats_addr: Option<std::net::SocketAddr>,
    /// Stdout carries only the report (`--json`): announce on stderr instead.
    pub stdout_reserved: bool,
    /// Called once the swarm is up, before agents start (e.g. to print the backends).
    pub on_start: Option<OnStart>,
    /// When it resolves, the agents still running are cut and the run reports (the
    /// report says `interrupted`).
    pub interrupt: Option<Interrupt>,
}
