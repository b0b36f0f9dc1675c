//! The core of the interactive SQL shell, independent of the terminal: it takes input
//! lines, gathers statements until `;`, runs them and meta-commands (`\dt`, `\d`,
//! `\timing`, `\format`, `\q`, `\?`), and writes what a user sees. The `lgs shell`
//! command adds line editing, history, completion and Ctrl-C around it.

use std::io::Write;
use std::time::Instant;

use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::sql::{SqlFormat, execute, parse_script, write_stream};

/// What the caller should do after a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask for the next line.
    Continue,
    /// Run this SQL (a complete statement, or the query behind a meta-command) with
    /// [`Shell::runner`].
    Run(String),
    /// The user asked to leave.
    Quit,
}

/// Help text for `\?`.
pub const HELP: &str = "\
Statements end with `;` and may span lines. Ctrl-C cancels a running query.
  \\dt              list tables and views
  \\d TABLE         describe a table or view
  \\timing          toggle printing the time of each statement
  \\format FORMAT   table, json or csv
  \\q               quit (or Ctrl-D)
  \\?               this help";

/// A shell session over a [`SessionContext`]: the statement being typed and the
/// settings.
pub struct Shell {
    ctx: SessionContext,
    buffer: String,
    timing: bool,
    format: SqlFormat,
}

/// Runs SQL with a shell's settings; independent of the shell, so that it can run
/// on its own task and be cancelled.
#[derive(Clone)]
pub struct Runner {
    ctx: SessionContext,
    timing: bool,
    format: SqlFormat,
}

impl Runner {
    /// Runs every statement of `text`, writing results to `out`.
    pub async fn run(self, text: String, out: &mut (dyn Write + Send)) -> Result<()> {
        for statement in parse_script(&text)? {
            let started = Instant::now();
            let stream = execute(&self.ctx, statement).await?;
            write_stream(stream, self.format, out).await?;
            if self.timing {
                let _ = writeln!(out, "Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
            }
        }
        let _ = out.flush();
        Ok(())
    }
}

impl Shell {
    pub fn new(ctx: SessionContext) -> Self {
        Shell {
            ctx,
            buffer: String::new(),
            timing: false,
            format: SqlFormat::Table,
        }
    }

    /// The prompt for the next line: `lgs> `, or `  -> ` inside a statement.
    pub fn prompt(&self) -> &'static str {
        if self.buffer.trim().is_empty() {
            "lgs> "
        } else {
            "  -> "
        }
    }

    /// Drops a statement being typed (Ctrl-C at the prompt).
    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    /// A runner with the current settings.
    pub fn runner(&self) -> Runner {
        Runner {
            ctx: self.ctx.clone(),
            timing: self.timing,
            format: self.format,
        }
    }

    /// Names to complete: tables and views, and their columns.
    pub async fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let Ok(df) = self
            .ctx
            .sql(
                "SELECT DISTINCT table_name, column_name FROM information_schema.columns \
                 WHERE table_schema = 'public'",
            )
            .await
        else {
            return names;
        };
        let Ok(batches) = df.collect().await else {
            return names;
        };
        for batch in batches {
            for column in batch.columns() {
                for row in 0..batch.num_rows() {
                    if let Ok(v) =
                        datafusion::arrow::util::display::array_value_to_string(column, row)
                    {
                        names.push(v);
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Takes one input line. Settings commands answer on `out` at once; complete
    /// statements and listing commands come back as [`Step::Run`]. A message for the
    /// user about a bad command is returned as `Err`.
    pub fn feed(&mut self, line: &str, out: &mut dyn Write) -> std::result::Result<Step, String> {
        let trimmed = line.trim();
        if self.buffer.trim().is_empty() && trimmed.starts_with('\\') {
            self.buffer.clear();
            return self.meta(trimmed, out);
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if !trimmed.ends_with(';') {
            return Ok(Step::Continue);
        }
        Ok(Step::Run(std::mem::take(&mut self.buffer)))
    }

    /// What is left at the end of input (a last statement without `;`).
    pub fn finish(&mut self) -> Option<String> {
        let text = std::mem::take(&mut self.buffer);
        (!text.trim().is_empty()).then_some(text)
    }

    fn meta(&mut self, command: &str, out: &mut dyn Write) -> std::result::Result<Step, String> {
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or_default();
        let arg = words.next();
        let say = |out: &mut dyn Write, text: &str| {
            writeln!(out, "{text}")
                .map(|_| Step::Continue)
                .map_err(|e| e.to_string())
        };
        match (name, arg) {
            ("\\q", _) => Ok(Step::Quit),
            ("\\?", _) => say(out, HELP),
            ("\\timing", _) => {
                self.timing = !self.timing;
                let state = if self.timing { "on" } else { "off" };
                say(out, &format!("Timing is {state}."))
            }
            ("\\format", Some(f)) => {
                self.format = match f {
                    "table" => SqlFormat::Table,
                    "json" => SqlFormat::Json,
                    "csv" => SqlFormat::Csv,
                    other => {
                        return Err(format!("unknown format {other:?}: use table, json or csv"));
                    }
                };
                say(out, &format!("Output format is {f}."))
            }
            ("\\dt", _) => Ok(Step::Run(
                "SELECT table_name, table_type FROM information_schema.tables \
                 WHERE table_schema = 'public' ORDER BY table_name;"
                    .into(),
            )),
            ("\\d", Some(table)) => {
                let escaped = table.replace('\'', "''");
                Ok(Step::Run(format!(
                    "SELECT column_name, data_type, is_nullable \
                     FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = '{escaped}' \
                     ORDER BY ordinal_position;"
                )))
            }
            _ => Err(format!(
                "unknown command {command:?}; \\? lists the commands"
            )),
        }
    }
}
