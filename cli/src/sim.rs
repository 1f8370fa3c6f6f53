//! `quotaswarm sim`: serves the simulator until interrupted.

use quotaswarm_sim::{serve, Simulator};
use std::net::SocketAddr;
use std::path::PathBuf;

pub async fn sim(addr: SocketAddr, config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = super::load_config(config.as_deref())?;
    let server = serve(Simulator::new(&config), addr).await?;
    println!("listening on http://{}", server.addr);
    tokio::signal::ctrl_c().await?;
    server.shutdown().await?;
    Ok(())
}
