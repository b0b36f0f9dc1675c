//! `lgs shell`: line editing, history, completion and Ctrl-C around
//! [`lgs::shell::Shell`]. When stdin is not a terminal, lines are read plainly (no
//! prompt), so a script can be piped in.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use std::sync::OnceLock;

use anyhow::Result;
use lgs::shell::{Shell, Step};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Highlighter, Hinter, Validator};
use tokio::sync::Notify;

/// Completes table, view and column names and common SQL keywords.
#[derive(Helper, Highlighter, Hinter, Validator)]
struct Names {
    words: Vec<String>,
}

const KEYWORDS: [&str; 24] = [
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "LIMIT", "JOIN", "ON", "AS", "AND", "OR",
    "NOT", "COUNT", "SUM", "AVG", "MIN", "MAX", "DISTINCT", "HAVING", "EXPLAIN", "WITH", "CASE",
    "DESC",
];

impl Completer for Names {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let prefix = &line[start..pos];
        if prefix.is_empty() {
            return Ok((pos, vec![]));
        }
        let lower = prefix.to_ascii_lowercase();
        let mut out: Vec<Pair> = self
            .words
            .iter()
            .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
            .map(|w| Pair {
                display: w.clone(),
                replacement: w.clone(),
            })
            .collect();
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
                .map(|k| Pair {
                    display: k.to_string(),
                    replacement: k.to_string(),
                }),
        );
        Ok((start, out))
    }
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LGS_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lgs_history"))
}

/// Ctrl-C while a query runs. A process-wide handler on its own thread: the runtime's
/// own signal driver would wait for an idle worker, and a busy query has none.
fn interrupts() -> &'static Notify {
    static INTERRUPTS: OnceLock<Notify> = OnceLock::new();
    INTERRUPTS.get_or_init(|| {
        let handler = ctrlc::set_handler(|| {
            if let Some(n) = INTERRUPTS.get() {
                // Only a query waiting now is cancelled; no permit is kept for later.
                n.notify_waiters();
            }
        });
        if let Err(e) = handler {
            eprintln!("warning: Ctrl-C will stop lgs, not just the query: {e}");
        }
        Notify::new()
    })
}

/// Runs SQL on its own task; Ctrl-C (when `cancellable`) aborts it and returns at
/// once. Returns whether it failed.
async fn run_sql(shell: &Shell, text: String, cancellable: bool) -> bool {
    let runner = shell.runner();
    let task = tokio::spawn(async move {
        let mut stdout = std::io::stdout();
        runner.run(text, &mut stdout).await
    });
    let abort = task.abort_handle();
    let outcome = if cancellable {
        tokio::select! {
            done = task => done,
            _ = interrupts().notified() => {
                abort.abort();
                eprintln!("query cancelled");
                return true;
            }
        }
    } else {
        task.await
    };
    match outcome {
        Ok(Ok(())) => false,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            true
        }
        Err(e) => {
            eprintln!("error: the query stopped: {e}");
            true
        }
    }
}

/// Handles one line: settings at once, SQL on a cancellable task. Returns whether
/// to quit, counting failures in `errors`.
async fn handle(shell: &mut Shell, line: &str, cancellable: bool, errors: &mut usize) -> bool {
    let mut stdout = std::io::stdout();
    match shell.feed(line, &mut stdout) {
        Ok(Step::Quit) => return true,
        Ok(Step::Continue) => {}
        Ok(Step::Run(text)) => {
            if run_sql(shell, text, cancellable).await {
                *errors += 1;
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            *errors += 1;
        }
    }
    let _ = stdout.flush();
    false
}

/// Runs the shell until `\q`, Ctrl-D or the end of stdin. Returns the number of
/// statements and commands that failed.
pub async fn run(mut shell: Shell) -> Result<usize> {
    let mut errors = 0;
    if !std::io::stdin().is_terminal() {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if handle(&mut shell, &line?, false, &mut errors).await {
                return Ok(errors);
            }
        }
        if let Some(text) = shell.finish()
            && run_sql(&shell, text, false).await
        {
            errors += 1;
        }
        return Ok(errors);
    }

    interrupts();
    let mut editor: Editor<Names, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(Names {
        words: shell.names().await,
    }));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("lgs shell: SQL over the warehouse. \\? for help, \\q to quit.");
    loop {
        let line = match editor.readline(shell.prompt()) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                shell.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        if !line.trim().is_empty() {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                let _ = editor.save_history(path);
            }
        }
        if handle(&mut shell, &line, true, &mut errors).await {
            break;
        }
        // New views change what can be completed.
        let upper = line.trim_start().to_ascii_uppercase();
        if (upper.starts_with("CREATE") || upper.starts_with("DROP"))
            && let Some(helper) = editor.helper_mut()
        {
            helper.words = shell.names().await;
        }
    }
    Ok(errors)
}
