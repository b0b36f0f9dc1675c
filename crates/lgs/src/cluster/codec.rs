//! How lgs's own plan nodes cross the wire between client, scheduler and
//! executors: Ballista's codecs, with [`ScratchWrite`] and [`SnapshotTable`]
//! (logical, client to scheduler) and [`ScratchWriteExec`] (physical, scheduler
//! to executors) added.
//! Every other node is left to Ballista's codecs unchanged.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::policy::pseudonym::{self, Pseudonym};
use crate::scratch::{ScratchWrite, ScratchWriteExec, one_input};
use crate::warehouse::scan::SnapshotTable;

/// What an encoded [`ScratchWrite`] or [`ScratchWriteExec`] starts with (then its
/// directory, as UTF-8). Ballista's own encodings are Protobuf messages, which
/// never start with a zero byte.
const SCRATCH_WRITE: &[u8] = b"\0lgs.scratch_write\0";

fn encode_dir(dir: &str, buf: &mut Vec<u8>) {
    buf.extend_from_slice(SCRATCH_WRITE);
    buf.extend_from_slice(dir.as_bytes());
}

/// The directory of an encoded scratch write, or `None` when `buf` is another node.
fn decode_dir(buf: &[u8]) -> Result<Option<String>> {
    let Some(dir) = buf.strip_prefix(SCRATCH_WRITE) else {
        return Ok(None);
    };
    let dir = std::str::from_utf8(dir)
        .map_err(|e| DataFusionError::Internal(format!("scratch directory: {e}")))?;
    Ok(Some(dir.to_string()))
}

/// What an encoded [`Pseudonym`] starts with (then its key): the executors compute
/// a restricted role's masks, so the key travels with the plan.
const PSEUDONYM: &[u8] = b"\0lgs.pseudonym\0";

/// Encodes lgs's [`Pseudonym`] function; `false` for every other function.
fn encode_pseudonym(node: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    let inner = node.inner().as_ref() as &dyn std::any::Any;
    match inner.downcast_ref::<Pseudonym>() {
        Some(pseudonym) => {
            buf.extend_from_slice(PSEUDONYM);
            buf.extend_from_slice(pseudonym.key());
            true
        }
        None => false,
    }
}

/// The [`Pseudonym`] function encoded in `buf`, or `None` when it holds another.
fn decode_pseudonym(name: &str, buf: &[u8]) -> Option<Arc<ScalarUDF>> {
    let key = buf
        .strip_prefix(PSEUDONYM)
        .filter(|_| name == pseudonym::NAME)?;
    Some(Arc::new(Pseudonym::udf(Arc::from(key))))
}

/// The function (UDF, UDAF, UDWF) methods of both codec traits: lgs adds its
/// [`Pseudonym`] to Ballista's functions.
macro_rules! forward_functions {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            match decode_pseudonym(name, buf) {
                Some(udf) => Ok(udf),
                None => self.ballista.try_decode_udf(name, buf),
            }
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            if encode_pseudonym(node, buf) {
                return Ok(());
            }
            self.ballista.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            self.ballista.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.ballista.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            self.ballista.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.ballista.try_encode_udwf(node, buf)
        }
    };
}

/// Ballista's logical codec and [`ScratchWrite`].
#[derive(Debug, Default)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        match decode_dir(buf)? {
            Some(dir) => Ok(Extension {
                node: Arc::new(ScratchWrite::new(one_input(inputs)?, dir)?),
            }),
            None => self.ballista.try_decode(buf, inputs, ctx),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<ScratchWrite>() {
            Some(write) => {
                encode_dir(write.dir(), buf);
                Ok(())
            }
            None => self.ballista.try_encode(node, buf),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match SnapshotTable::decode(buf, schema.clone())? {
            Some(table) => Ok(Arc::new(table)),
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match (node.as_ref() as &dyn std::any::Any).downcast_ref::<SnapshotTable>() {
            Some(table) => table.encode(buf),
            None => self
                .ballista
                .try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    forward_functions!();
}

/// Ballista's physical codec and [`ScratchWriteExec`].
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match decode_dir(buf)? {
            Some(dir) => Ok(Arc::new(ScratchWriteExec::new(
                one_input(inputs)?,
                dir.into(),
            ))),
            None => self.ballista.try_decode(buf, inputs, ctx, converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        match node.downcast_ref::<ScratchWriteExec>() {
            Some(write) => {
                encode_dir(&write.dir().display().to_string(), buf);
                Ok(())
            }
            None => self.ballista.try_encode(node, buf, converter),
        }
    }

    forward_functions!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };

    /// A scratch write reaches the scheduler (logical) and the executors
    /// (physical) with its directory and its input.
    #[tokio::test]
    async fn scratch_writes_cross_the_wire_whole() {
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_query_planner(Arc::new(crate::scratch::QueryPlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let dir = std::path::Path::new("/wh/_lgs_scratch/report-1/lgs_invoice_lines");
        let input = ctx
            .sql("SELECT x, count(*) AS n FROM (VALUES (1), (2), (2)) AS t(x) GROUP BY x")
            .await
            .unwrap()
            .into_unoptimized_plan();
        let plan = ScratchWrite::plan(input, dir).unwrap();
        let codec = LogicalCodec::default();
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
        let back =
            logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
        assert_eq!(
            back.display_indent_schema().to_string(),
            plan.display_indent_schema().to_string()
        );
        assert!(
            back.display_indent()
                .to_string()
                .starts_with(&format!("ScratchWrite: dir={}", dir.display()))
        );

        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let exec: Arc<dyn ExecutionPlan> = Arc::new(ScratchWriteExec::new(
            Arc::new(EmptyExec::new(schema)),
            dir.to_path_buf(),
        ));
        let codec = PhysicalCodec::default();
        let bytes = physical_plan_to_bytes_with_extension_codec(exec.clone(), &codec).unwrap();
        let back =
            physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
        let shown = |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).indent(false).to_string();
        assert_eq!(shown(&back), shown(&exec));
        assert!(shown(&back).starts_with(&format!("ScratchWriteExec: dir={}", dir.display())));
    }

    #[test]
    fn scratch_directories_round_trip_and_other_bytes_are_not_taken() {
        let mut buf = Vec::new();
        encode_dir("/wh/_lgs_scratch/report-1/lgs_invoice_lines", &mut buf);
        assert_eq!(
            decode_dir(&buf).unwrap().as_deref(),
            Some("/wh/_lgs_scratch/report-1/lgs_invoice_lines")
        );
        // A Protobuf message (field 1, length-delimited) is not a scratch write.
        assert_eq!(decode_dir(&[0x0a, 0x03, b'a', b'b', b'c']).unwrap(), None);
        assert_eq!(decode_dir(&[]).unwrap(), None);
    }
}
