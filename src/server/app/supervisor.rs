//! Runs the HTTP server and the engine side by side, and never lets the engine die quietly: if
//! its task stops or panics while the portal is up, readiness fails at once (so a load
//! balancer stops sending people here), the server drains for a short grace, and the process
//! exits non-zero for its supervisor (systemd, Kubernetes) to restart it.

use std::future::{Future, IntoFuture as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether this process's engine is running, as `/readyz` reports it.
#[derive(Debug, Clone, Default)]
pub struct EngineStatus(Arc<AtomicU8>);

const NOT_HERE: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

impl EngineStatus {
    pub fn running(&self) {
        self.0.store(RUNNING, Ordering::SeqCst);
    }

    fn stopped(&self) {
        self.0.store(STOPPED, Ordering::SeqCst);
    }

    /// True when the engine was started in this process and is no longer running.
    pub fn has_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst) == STOPPED
    }

    pub fn describe(&self) -> &'static str {
        match self.0.load(Ordering::SeqCst) {
            NOT_HERE => "not run in this process",
            RUNNING => "running",
            _ => "stopped",
        }
    }
}

/// How a served process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop (a signal); the engine finished the work it had claimed.
    Requested,
    /// The engine stopped on its own: the process must exit non-zero.
    EngineStopped,
}

/// The engine's task and how to ask it to stop.
pub struct EngineTask {
    pub handle: JoinHandle<()>,
    pub stop: watch::Sender<bool>,
}

/// Serves `app` on `listener` until `shutdown` completes or the engine stops on its own.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    engine: Option<EngineTask>,
    status: EngineStatus,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<Exit> {
    let (stop_http, http_stopping) = watch::channel(false);
    let mut server = tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let mut stopping = http_stopping;
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .into_future(),
    );
    let (handle, stop_engine) = match engine {
        Some(task) => {
            status.running();
            (Some(task.handle), Some(task.stop))
        }
        None => (None, None),
    };
    let has_engine = handle.is_some();
    let engine_ended = async move {
        match handle {
            Some(handle) => handle.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(engine_ended, shutdown);
    let exit = tokio::select! {
        () = &mut shutdown => Exit::Requested,
        ended = &mut engine_ended => {
            status.stopped();
            match ended {
                Err(e) if e.is_panic() => tracing::error!(
                    error = %e, "the engine panicked: nothing expires until the process restarts"
                ),
                Err(e) => tracing::error!(error = %e, "the engine task was cancelled"),
                Ok(()) => tracing::error!("the engine stopped on its own"),
            }
            tracing::error!(
                grace = ?grace,
                "readiness now fails; the process exits non-zero after the grace period"
            );
            tokio::select! {
                () = tokio::time::sleep(grace) => {}
                () = &mut shutdown => {}
            }
            Exit::EngineStopped
        }
        served = &mut server => {
            // The server stopped by itself: an accept loop failure.
            if let Some(stop) = &stop_engine {
                let _ = stop.send(true);
            }
            return served.map_err(std::io::Error::other)?.map(|()| Exit::Requested);
        }
    };
    let _ = stop_http.send(true);
    if let Some(stop) = &stop_engine {
        let _ = stop.send(true);
    }
    server.await.map_err(std::io::Error::other)??;
    if exit == Exit::Requested && has_engine {
        // The engine finishes the work it has claimed before it returns.
        let _ = engine_ended.await;
    }
    Ok(exit)
}
