//! An encrypted warehouse on a cluster. DataFusion's plan encoding does not carry
//! Parquet encryption settings, and lgs does not put keys in plans: the executors
//! are started with the key file (`lgs executor --key-file`), register its
//! keyring in their runtimes (so scratch results they write are encrypted too),
//! and attach it to every Parquet scan of the tasks they receive
//! ([`crate::crypt::attach`]). The scheduler never reads a file: a client over an
//! encrypted warehouse turns off the collection of file statistics at planning.

use std::sync::Arc;

use ballista_core::JobId;
use ballista_core::RuntimeProducer;
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::execution::parquet_encryption::EncryptionFactory;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;

use crate::crypt::{Factory, Keyring};

/// The executor's runtimes: Ballista's default (temporary files in `work_dir`),
/// with the keyring's factory registered.
pub(super) fn runtime_producer(keyring: Arc<Keyring>, work_dir: String) -> RuntimeProducer {
    Arc::new(move |_: &SessionConfig| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(work_dir.clone())
            .build()?;
        crate::crypt::register(&runtime, &keyring);
        Ok(Arc::new(runtime))
    })
}

/// Ballista's execution engine, each task's Parquet scans decrypting with the
/// keyring.
pub(super) struct DecryptingEngine {
    inner: DefaultExecutionEngine,
    factory: Arc<dyn EncryptionFactory>,
}

impl DecryptingEngine {
    pub(super) fn new(keyring: Arc<Keyring>) -> Self {
        DecryptingEngine {
            inner: DefaultExecutionEngine::new(),
            factory: Arc::new(Factory(keyring)),
        }
    }
}

impl ExecutionEngine for DecryptingEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn QueryStageExecutor>> {
        let plan = crate::crypt::attach(plan, &self.factory)?;
        self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )
    }
}
