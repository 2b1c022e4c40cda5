//! `davit serve`: start the server, print the first-start owner password once, shut down
//! gracefully on SIGTERM/SIGINT and checkpoint the database.

use std::net::SocketAddr;

use clap::Args;

use super::log_output::LogOutput;
use crate::app;
use crate::config::Config;

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:8008).
    #[arg(long, env = "DAVIT_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

pub fn serve(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let log = init_tracing(&config.log);
    crate::memory::tune_allocator();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Requests run inline on the workers (see crate::inline), so there are more of them
        // than cores on a small machine.
        .worker_threads(cores.max(crate::inline::MIN_WORKERS))
        // Blocking work is SQLite (one writer, a few readers) and argon2: a pool far above
        // the core count only adds threads and memory under load (512 by default).
        .max_blocking_threads(32)
        // mimalloc keeps freed pages with the thread that used them; a blocking thread
        // idle for a second ends and hands them back. With tokio's 10 s, the memory of a
        // burst of big answers stayed resident into the next workload (PUT after the
        // benchmark's reads: 52.6 MB, against 36.4 MB with 1 s).
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let app::App { state, store, first_start } = app::build(config)?;
        if let Some(first) = first_start {
            // Printed to standard output once, never logged: it is the only copy.
            println!(
                "davit: first start: created organization {:?} and its owner account",
                first.organization
            );
            println!("  username: {}", first.username);
            println!("  password: {}", first.password);
            println!("Keep this password now; it is not shown again.");
        }
        let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
        let base = &state.config.base_path;
        tracing::info!(address = %listener.local_addr()?, "davit listening; DAV root at {base}/dav/");
        tokio::spawn(prune_sync_logs(state.clone()));
        tokio::spawn(crate::memory::trim_periodically());
        crate::http::run(state.clone(), listener, shutdown_signal()).await?;
        store.checkpoint()?;
        tracing::info!("stopped cleanly");
        Ok(())
    });
    // The access lines of the last interval; "stopped cleanly" itself is already written.
    log.flush();
    served
}

/// Forgets sync tombstones past the retention, at start and every six hours.
async fn prune_sync_logs(state: std::sync::Arc<crate::state::AppState>) {
    let retention = state.config.sync_retention_days.saturating_mul(86_400);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(6 * 3600));
    loop {
        every.tick().await;
        let store = state.store.clone();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().saturating_sub(retention) as i64);
        match tokio::task::spawn_blocking(move || store.prune_tombstones(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, "pruned old sync tombstones"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not prune sync tombstones"),
            Err(e) => tracing::warn!(error = %e, "tombstone pruning task failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn init_tracing(filter: &str) -> LogOutput<std::io::Stderr> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    use std::io::IsTerminal;
    let log = LogOutput::with_flusher(std::io::stderr(), super::log_output::FLUSH_INTERVAL);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(log.clone())
        .try_init();
    log
}
