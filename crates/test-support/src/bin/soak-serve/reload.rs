//! Reloads under load: the server watches the plugins' files, and this
//! task rewrites them every 2 s, in rounds:
//! - every round, a new generation of `counter.wat` (replaced
//!   atomically), which must then answer;
//! - every 5th round, first a `counter.wat` that does not compile, which
//!   must be refused (`plugbox_reloads_total{outcome="refused"}` in
//!   `/metrics`) while the old generation keeps answering;
//! - every 3rd round, `adder.wat` touched (same bytes, new time);
//! - every 4th round, `echo.wasm` replaced by the same bytes;
//! - every 8th round, `echo.wasm` replaced by bytes that are not
//!   WebAssembly, then by a core module that is no wasi:http component
//!   (start-up refuses both at a route); each must be refused, `/echo`
//!   answering throughout, before the good file is put back.

use crate::net::{self, KeepAlive, request};
use crate::setup::{self, BROKEN_COUNTER, GARBAGE, WRONG_KIND};
use crate::tally::{Class, status_key};
use crate::{SEQ, Soak, pause};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const ROUND: Duration = Duration::from_secs(2);

/// How long a reload may take to show (the watcher, compiling, the
/// cache): longer is a reload that never happened.
const RELOAD_PATIENCE: Duration = Duration::from_secs(30);

pub async fn run(soak: Arc<Soak>) {
    let mut conn = KeepAlive::new(soak.addr);
    let echo = match std::fs::read(soak.dir.join("echo.wasm")) {
        Ok(bytes) => bytes,
        Err(e) => {
            return soak.tally.fail(
                Class::Reload,
                "setup",
                format!("cannot read echo.wasm: {e}"),
            );
        }
    };
    let mut round = 0u64;
    while soak.running() {
        round += 1;
        let started = Instant::now();
        if round.is_multiple_of(5) {
            refused(
                &soak,
                &mut conn,
                "counter",
                "counter.wat",
                BROKEN_COUNTER.as_bytes(),
                "broken counter.wat",
            )
            .await;
        }
        new_counter(&soak, &mut conn).await;
        if round.is_multiple_of(3) {
            let touched = std::fs::File::options()
                .append(true)
                .open(soak.dir.join("adder.wat"))
                .and_then(|f| f.set_modified(SystemTime::now()));
            match touched {
                Ok(()) => soak.reloaded("adder", "touched"),
                Err(e) => soak
                    .tally
                    .fail(Class::Reload, "touch adder.wat", e.to_string()),
            }
        }
        if round.is_multiple_of(4) {
            write(&soak, "echo.wasm", &echo);
            soak.reloaded("echo", "replaced by the same bytes");
        }
        if round.is_multiple_of(8) {
            for (bytes, what) in [
                (GARBAGE, "echo.wasm that is not wasm"),
                (WRONG_KIND, "echo.wasm that is no wasi:http component"),
            ] {
                soak.echo_swapped.store(true, SEQ);
                refused(&soak, &mut conn, "echo", "echo.wasm", bytes, what).await;
                write(&soak, "echo.wasm", &echo);
                soak.echo_swapped.store(false, SEQ);
                echo_serves(&soak, &mut conn).await;
            }
        }
        pause(&soak, ROUND.saturating_sub(started.elapsed())).await;
    }
}

fn write(soak: &Soak, file: &str, bytes: &[u8]) {
    if let Err(e) = setup::replace(&soak.dir.join(file), bytes) {
        soak.tally.fail(Class::Reload, "write", e);
    }
}

/// Writes the next generation of `counter.wat` and waits until it answers.
async fn new_counter(soak: &Soak, conn: &mut KeepAlive) {
    let generation = soak.pending.load(SEQ) + 1;
    soak.pending.store(generation, SEQ);
    write(soak, "counter.wat", setup::counter(generation).as_bytes());
    let want = format!("[{generation}]");
    let start = Instant::now();
    loop {
        let answer = conn
            .send(request("POST", "/v1/plugins/counter/version", ""))
            .await;
        let status = answer
            .as_ref()
            .map(|r| r.status.to_string())
            .unwrap_or_else(|_| status_key(None, false));
        match &answer {
            Ok(r) if r.status == 200 && r.text() == want => {
                soak.tally
                    .record(Class::Reload, "new version served", status, Ok(()));
                soak.serving.store(generation, SEQ);
                soak.reloaded("counter", "served");
                return;
            }
            // The old generation, until the new one is in.
            Ok(r) if r.status == 200 && start.elapsed() < RELOAD_PATIENCE => {}
            Ok(r) if r.status == 200 => {
                let what = format!(
                    "generation {generation} of counter.wat never answered (still {})",
                    r.text()
                );
                return soak
                    .tally
                    .record(Class::Reload, "new version served", status, Err(what));
            }
            _ => {
                let what = format!("waiting for generation {generation}: {}", describe(&answer));
                return soak
                    .tally
                    .record(Class::Reload, "new version served", status, Err(what));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `bytes` over `file` (a version start-up would refuse) and waits
/// until `plugin`'s refused reloads go up, checking meanwhile that the
/// old version still answers.
async fn refused(
    soak: &Soak,
    conn: &mut KeepAlive,
    plugin: &'static str,
    file: &str,
    bytes: &[u8],
    what: &'static str,
) {
    let Some(before) = refusals(soak, plugin).await else {
        return;
    };
    write(soak, file, bytes);
    let start = Instant::now();
    loop {
        let Some(now) = refusals(soak, plugin).await else {
            return;
        };
        if now > before {
            soak.reloaded(plugin, "refused");
            break;
        }
        if start.elapsed() > RELOAD_PATIENCE {
            let issue = if plugin == "echo" && bytes == WRONG_KIND {
                " (issue 21 item 4: reloads accept what start-up refuses)"
            } else {
                ""
            };
            soak.tally.fail(
                Class::Reload,
                "broken version refused",
                format!("a {what} was not refused within {RELOAD_PATIENCE:?}{issue}"),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The old version serves on.
    let answer = match plugin {
        "counter" => {
            conn.send(request("POST", "/v1/plugins/counter/version", ""))
                .await
        }
        _ => conn.send(request("GET", "/echo/after-refusal", "")).await,
    };
    let outcome = match &answer {
        Ok(r) if r.status == 200 => Ok(()),
        _ => Err(format!(
            "after a {what}, the old version did not answer: {}",
            describe(&answer)
        )),
    };
    crate::record(
        soak,
        Class::Reload,
        "old version serves on",
        &answer,
        outcome,
    );
}

/// Waits until `/echo` answers again after its good file is back.
async fn echo_serves(soak: &Soak, conn: &mut KeepAlive) {
    let start = Instant::now();
    loop {
        let answer = conn.send(request("GET", "/echo/restored", "")).await;
        if matches!(&answer, Ok(r) if r.status == 200 && r.text() == "/echo/restored") {
            return;
        }
        if start.elapsed() > RELOAD_PATIENCE {
            let what = format!(
                "`/echo` did not answer again after echo.wasm was restored: {}",
                describe(&answer)
            );
            return soak
                .tally
                .fail(Class::Reload, "restored version serves", what);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `plugbox_reloads_total{plugin=PLUGIN,outcome="refused"}`, or `None`
/// (recorded as a failure) when `/metrics` does not answer.
async fn refusals(soak: &Soak, plugin: &str) -> Option<u64> {
    let answer = net::fresh(
        soak.addr,
        http::Version::HTTP_11,
        request("GET", "/metrics", ""),
    )
    .await;
    match &answer {
        Ok(r) if r.status == 200 => {
            let label = format!("plugin=\"{plugin}\"");
            let count = r
                .text()
                .lines()
                .filter(|l| l.starts_with("plugbox_reloads_total{") && l.contains(&label))
                .filter(|l| l.contains("outcome=\"refused\""))
                .find_map(|l| l.rsplit(' ').next()?.parse().ok());
            if count.is_none() {
                soak.tally.fail(
                    Class::Reload,
                    "metrics",
                    format!("no refused-reload count of `{plugin}` in /metrics"),
                );
            }
            count
        }
        _ => {
            soak.tally.fail(
                Class::Reload,
                "metrics",
                format!("/metrics: {}", describe(&answer)),
            );
            None
        }
    }
}

fn describe(answer: &Result<net::Reply, String>) -> String {
    match answer {
        Ok(r) => format!("{} {}", r.status, crate::clip(&r.text())),
        Err(e) => e.clone(),
    }
}
