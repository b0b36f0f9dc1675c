//! The cluster client against a scheduler run in this process: what a client of
//! another Ballista major version is told.

use std::collections::HashMap;
use std::time::Duration;

use ballista::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;
use lgs::cluster::{BALLISTA_VERSION, SchedulerOptions, remote_context, run_scheduler};

#[tokio::test]
async fn a_client_of_another_major_version_is_told_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = SchedulerOptions {
        bind: format!("127.0.0.1:{port}").parse().unwrap(),
        external_host: None,
        executor_timeout: Duration::from_secs(10),
    };
    let scheduler = tokio::spawn(async move { run_scheduler(&options).await });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An older client: the version header it sends is Ballista 54's.
    let config = SessionConfig::new().with_ballista_grpc_metadata(HashMap::from([(
        "ballista-version".to_string(),
        "54.0.0".to_string(),
    )]));
    let ctx = remote_context(&format!("df://127.0.0.1:{port}"), config)
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), async {
        ctx.sql("SELECT 1 AS one").await?.collect().await
    })
    .await
    .expect("bounded time");
    let err = result.expect_err("a client of another major version must be refused");
    let message = err.to_string();
    assert!(
        message.contains("54.0.0")
            && message.contains(BALLISTA_VERSION)
            && message.contains("same major version"),
        "{message}"
    );
    scheduler.abort();
}
