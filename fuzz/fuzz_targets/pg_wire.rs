#![no_main]
//! Any bytes as what a client sends to `lgs serve --pg-port`: one connection to a
//! real server (`lgs::serve::pg::bind` on loopback, over a warehouse of the
//! hand-made lines), fed the bytes, its writing half then closed, and read to the
//! end. This goes through the whole path a BI tool takes: pgwire's decoding of the
//! startup and every message, the read-only check, lgs's own parsing and
//! rewriting of each statement, planning and running under the server's limits.
//! Besides "no panic" anywhere in the server: every connection ends (a hang is a
//! libFuzzer timeout), and the server still accepts the next one.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lgs::Warehouse;
use lgs::ingest::{IngestOptions, NoProgress};
use lgs::serve::pg::{PgOptions, QueryLimits};
use lgs::session::{Engine, Limits};
use libfuzzer_sys::fuzz_target;

/// The warehouse's lines: the repository's hand-made test data.
const LINES: &str = include_str!("../../crates/lgs/tests/data/handmade.csv");

/// The server's address; the server runs on its own thread for the process.
fn server() -> SocketAddr {
    static SERVER: OnceLock<SocketAddr> = OnceLock::new();
    *SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let dir = tempfile::tempdir().expect("a temporary directory").keep();
                let csv = dir.join("lines.csv");
                std::fs::write(&csv, LINES).expect("the lines written");
                let warehouse = Warehouse::new(dir.join("warehouse"));
                let inputs = [csv.display().to_string()];
                let options = IngestOptions::default();
                lgs::ingest::ingest(&warehouse, &inputs, &options, Arc::new(NoProgress))
                    .await
                    .expect("the lines ingested");
                let options = PgOptions {
                    bind: "127.0.0.1:0".parse().expect("an address"),
                    tls: None,
                    limits: QueryLimits {
                        max_rows: Some(10_000),
                        timeout: Some(Duration::from_secs(5)),
                    },
                };
                let engine = Engine::Local(Limits {
                    memory_limit: Some(512 << 20),
                    threads: Some(1),
                });
                let (addr, served) =
                    lgs::serve::pg::bind(warehouse, options, engine, None, std::future::pending())
                        .await
                        .expect("the server bound");
                tx.send(addr).expect("the address sent");
                served.await.expect("the server runs");
            });
        });
        rx.recv().expect("the server started")
    })
}

/// The one kind of panic the server contains that is known and not lgs's own:
/// pgwire 0.41's decoders on some malformed messages. They read past the end of
/// a message (the `bytes` crate's getters then panic;
/// `pg_wire_parse_count_past_end`), or subtract past zero from a length that is
/// too small (`messages/startup.rs`, with overflow checks on). lgs turns either
/// into the end of that connection. Every other panic, contained or not, aborts
/// as a crash.
fn allow_known_decoder_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let place = info.location().map_or("", |l| l.file());
        let decoder = place.contains("/bytes-") || place.contains("/pgwire-0.41.1/src/messages/");
        if !(lgs::error::panic_is_caught() && decoder) {
            abort(info);
        }
    }));
}

fuzz_target!(init: { allow_known_decoder_panics(); server(); }, |data: &[u8]| {
    let mut client = TcpStream::connect(server()).expect("the server accepts a connection");
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    // The server may close first (a bad startup, a fatal error): then the rest of
    // the bytes are not read, which is not a failure.
    let _ = client.write_all(data);
    let _ = client.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer);
});
