//! Running on a Ballista cluster: the scheduler and executor processes that
//! `lgs scheduler` and `lgs executor` embed, and the client session that
//! `--cluster df://HOST:PORT` gives every query command.
//!
//! The analytics do not know about any of this: they take a [`SessionContext`],
//! and a cluster session is one whose physical planning and execution Ballista
//! does (the extension-trait pattern of Ballista's own client). The warehouse
//! tables are registered the same way in both (a Parquet listing of exactly the
//! files of each table's current Delta snapshot), so the scheduler and the
//! executors need to reach those files at the same paths: a shared directory or
//! object storage. What a cluster session cannot do is hold results in the
//! client's memory, so the report's intermediates are written by the executors
//! to a scratch directory of the warehouse and read from there
//! ([`crate::analytics::Intermediates::Files`]; views on object storage), each
//! part by the task that computes it ([`crate::scratch`]): the scheduler plans
//! that node and every process encodes it with [`codec`]'s codecs.

pub mod codec;
mod encrypted;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista::extension::SessionContextExt;
use ballista_core::config::{
    BALLISTA_ADAPTIVE_PLANNER_ENABLED, BALLISTA_SHUFFLE_COMPRESSION_CODEC, TaskSchedulingPolicy,
};
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::error::{LgsError, Result};

/// The Ballista version lgs embeds (client, scheduler and executor alike).
pub const BALLISTA_VERSION: &str = ballista_core::BALLISTA_VERSION;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address the scheduler's gRPC service listens on.
    pub bind: SocketAddr,
    /// Host name executors and clients are told to use (default: the bind address).
    pub external_host: Option<String>,
    /// An executor silent for this long is considered lost and its tasks run again
    /// elsewhere.
    pub executor_timeout: Duration,
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's `HOST:PORT`.
    pub scheduler: String,
    /// Address of the executor's Arrow Flight service (shuffle data).
    pub bind: SocketAddr,
    /// Port of the executor's gRPC service (the host is `bind`'s).
    pub grpc_port: u16,
    /// Host name the scheduler and other executors use to reach this one
    /// (default: the bind address).
    pub external_host: Option<String>,
    /// Tasks run at once (default: the number of cores).
    pub slots: Option<usize>,
    /// Where shuffle files are written (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// The executor's memory, shared by the slots: its query operators hold
    /// [`pool_bytes`](crate::session::pool_bytes) of it, and those that can spill
    /// do so beyond that.
    pub memory_limit: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat: Duration,
    /// The warehouse's keys, when it is encrypted (see [`crate::crypt`]).
    pub keyring: Option<Arc<crate::crypt::Keyring>>,
}

fn cluster_error(what: &str, e: impl std::fmt::Display) -> LgsError {
    LgsError::Cluster {
        message: format!("{what}: {e}"),
    }
}

/// Every scheduler and executor uses push-based scheduling: the scheduler hands a
/// task to a free slot as soon as it is runnable, where pull-based executors
/// would find it at their next poll (50 ms when idle), a delay paid at every stage
/// of every query (measured in BENCHMARKS.md). An executor whose heartbeats stop
/// is dropped and its tasks run elsewhere, either way.
const POLICY: TaskSchedulingPolicy = TaskSchedulingPolicy::PushStaged;

/// Runs a Ballista scheduler until the process is stopped.
pub async fn run_scheduler(options: &SchedulerOptions) -> Result<()> {
    let timeout = options.executor_timeout.as_secs().max(1);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .clone()
            .unwrap_or_else(|| options.bind.ip().to_string()),
        scheduling_policy: POLICY,
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: timeout.clamp(1, 15),
        no_executors_grace_period_seconds: timeout,
        override_logical_codec: Some(Arc::new(codec::LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(codec::PhysicalCodec::default())),
        override_session_builder: Some(Arc::new(scheduler_session)),
        ..SchedulerConfig::default()
    };
    config
        .validate()
        .map_err(|e| cluster_error("invalid scheduler settings", e))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| cluster_error("cannot set up the scheduler", e))?;
    let listener = nodelay_listener(options.bind)
        .map_err(|e| cluster_error(&format!("cannot listen on {}", options.bind), e))?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(|e| cluster_error("cannot start the scheduler", e))?;
    tracing::info!(
        "Ballista scheduler {BALLISTA_VERSION} listening on {}",
        options.bind
    );
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(|e| cluster_error(&format!("the scheduler on {}", options.bind), e))
}

/// A listening socket whose accepted connections send at once (`TCP_NODELAY`,
/// which Linux passes from a listening socket to the sockets it accepts).
///
/// Ballista's own `start_server` serves the scheduler from a plain listener, so
/// its answers were held back by Nagle's algorithm until the peer's delayed
/// acknowledgement (up to 40 ms on Linux): clients learnt that a job had
/// finished tens of milliseconds after it had, on every query (a trivial query
/// on a cluster on one host took 47-49 ms, 12-17 ms with this; BENCHMARKS.md).
/// The executors' and the clients' sockets already set it.
fn nodelay_listener(bind: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if bind.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(bind)?;
    socket.listen(1024)
}

/// The session a scheduler plans a job in: Ballista's, with lgs's query planner.
fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(config)?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(crate::scratch::QueryPlanner))
        .build())
}

/// Runs a Ballista executor until the process is stopped (or the scheduler tells
/// it to stop).
pub async fn run_executor(options: &ExecutorOptions) -> Result<()> {
    let (host, port) = split_host_port(&options.scheduler)?;
    let mut config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: options.external_host.clone(),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        task_scheduling_policy: POLICY,
        work_dir: options.work_dir.as_ref().map(|d| d.display().to_string()),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        memory_pool_size: options
            .memory_limit
            .map(|limit| crate::session::pool_bytes(limit) as u64),
        override_logical_codec: Some(Arc::new(codec::LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(codec::PhysicalCodec::default())),
        override_function_registry: Some(Arc::new(function_registry())),
        ..ExecutorProcessConfig::default()
    };
    if let Some(slots) = options.slots {
        config.vcores = slots;
    }
    if let Some(keyring) = &options.keyring {
        let work_dir = config.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join(format!("lgs-executor-{}", std::process::id()))
                .display()
                .to_string()
        });
        std::fs::create_dir_all(&work_dir).map_err(|e| LgsError::Write {
            path: work_dir.clone().into(),
            message: e.to_string(),
        })?;
        config.work_dir = Some(work_dir.clone());
        config.override_runtime_producer =
            Some(encrypted::runtime_producer(keyring.clone(), work_dir));
        config.override_execution_engine =
            Some(Arc::new(encrypted::DecryptingEngine::new(keyring.clone())));
    }
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| LgsError::Write {
            path: dir.clone(),
            message: e.to_string(),
        })?;
    }
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| cluster_error(&format!("the executor on {}", options.bind), e))
}

/// The functions an executor decodes its tasks' expressions with: every function
/// of a client session (DataFusion's defaults). Ballista's own registry leaves out
/// DataFusion's nested (array) scalar functions, so a task calling one, such as
/// `generate_series` in the report's monthly metrics or `array_length` in `lgs
/// sql`, was rejected by the executor although the client had planned it.
fn function_registry() -> BallistaFunctionRegistry {
    let state = SessionStateBuilder::new().with_default_features().build();
    BallistaFunctionRegistry {
        scalar_functions: state.scalar_functions().clone(),
        aggregate_functions: state.aggregate_functions().clone(),
        window_functions: state.window_functions().clone(),
        higher_order_functions: state.higher_order_functions().clone(),
    }
}

/// Splits `HOST:PORT` (or a `df://HOST:PORT` URL).
pub fn split_host_port(address: &str) -> Result<(String, u16)> {
    let bare = address
        .strip_prefix("df://")
        .unwrap_or(address)
        .trim_end_matches('/');
    let invalid = || LgsError::InvalidArgument {
        what: "cluster address",
        message: format!("{address:?} is not HOST:PORT (e.g. 127.0.0.1:50050)"),
    };
    let (host, port) = bare.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse().map_err(|_| invalid())?;
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_string(), port))
}

/// How long a client waits for the scheduler to answer before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A session whose queries run on the cluster at `url` (`df://HOST:PORT`). The
/// scheduler is reached once first, so an unreachable one is a clear error now
/// rather than a hang at the first query.
pub async fn remote_context(url: &str, config: SessionConfig) -> Result<SessionContext> {
    let (host, port) = split_host_port(url)?;
    let reachable = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await;
    match reachable {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(LgsError::Cluster {
                message: format!(
                    "cannot reach the scheduler at {host}:{port}: {e} (is `lgs scheduler` running there?)"
                ),
            });
        }
        Err(_) => {
            return Err(LgsError::Cluster {
                message: format!(
                    "the scheduler at {host}:{port} did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            });
        }
    }
    let state = SessionStateBuilder::new()
        .with_config(client_config(config))
        .with_default_features()
        .build();
    SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
        .await
        .map_err(|e| cluster_error(&format!("cannot use the cluster at {host}:{port}"), e))
}

/// The settings of a client session on the cluster (the scheduler plans its jobs
/// with them): Ballista's, with lgs's codecs and three of its defaults changed,
/// each measured on the report (BENCHMARKS.md).
fn client_config(config: SessionConfig) -> SessionConfig {
    // - Shuffle files go uncompressed: compressing them (LZ4 by default) was the
    //   executors' largest single cost (7% of their CPU, plus 2% to decompress) to
    //   save bytes that cross a LAN or stay on one machine.
    // - The static planner, not the adaptive one: lgs's plans are aggregations
    //   whose shape adaptivity does not change, and re-planning after every stage
    //   cost the scheduler half as much CPU again and the executors more.
    // - Parquet strings are read as `Utf8View`, as in a local session: Ballista turns
    //   it off against oversized Flight frames, but its hash shuffles compact view
    //   columns before writing, and grouping on views copies and compares less
    //   (10% of the executors' CPU on a report).
    config
        .upgrade_for_ballista()
        .set_str(BALLISTA_SHUFFLE_COMPRESSION_CODEC, "none")
        .set_bool(BALLISTA_ADAPTIVE_PLANNER_ENABLED, false)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", true)
        .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_addresses() {
        assert_eq!(
            split_host_port("df://10.0.0.5:50050").unwrap(),
            ("10.0.0.5".to_string(), 50050)
        );
        assert_eq!(
            split_host_port("sched:6000").unwrap(),
            ("sched".to_string(), 6000)
        );
        assert!(split_host_port("df://nohost").is_err());
        assert!(split_host_port(":50050").is_err());
        assert!(split_host_port("h:port").is_err());
    }

    /// The scheduler's listener hands out connections with Nagle's algorithm off,
    /// so its answers (a job's status above all) are not held back for the peer's
    /// delayed acknowledgement.
    #[tokio::test]
    async fn scheduler_connections_send_without_delay() {
        let listener = nodelay_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        // A plain listener's connections would not have it (what Ballista's own
        // start_server serves from): the assertion above is not vacuous.
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _other = tokio::net::TcpStream::connect(plain.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = plain.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap());
        drop(client);
    }

    /// Executors decode every function a client can plan, the nested (array) ones
    /// included, which Ballista's own registry leaves out.
    #[test]
    fn executors_know_every_function_of_a_client_session() {
        let ours = function_registry();
        let client = SessionStateBuilder::new().with_default_features().build();
        for name in client.scalar_functions().keys() {
            assert!(ours.scalar_functions.contains_key(name), "{name}");
        }
        for name in ["generate_series", "array_length", "make_array"] {
            assert!(ours.scalar_functions.contains_key(name), "{name}");
            assert!(
                !BallistaFunctionRegistry::default()
                    .scalar_functions
                    .contains_key(name),
                "Ballista's registry now has {name}: the override may be unneeded"
            );
        }
        for name in client.aggregate_functions().keys() {
            assert!(ours.aggregate_functions.contains_key(name), "{name}");
        }
        for name in client.window_functions().keys() {
            assert!(ours.window_functions.contains_key(name), "{name}");
        }
    }

    /// The defaults lgs changes reach the session that submits the jobs (the
    /// scheduler plans with the client's settings).
    #[test]
    fn client_sessions_use_the_static_planner_views_and_plain_shuffles() {
        let config = client_config(SessionConfig::new());
        let ballista = config.ballista_config();
        assert!(!ballista.adaptive_query_planner_enabled());
        assert_eq!(ballista.shuffle_compression_codec().unwrap(), None);
        assert!(config.options().execution.parquet.schema_force_view_types);
    }
}
