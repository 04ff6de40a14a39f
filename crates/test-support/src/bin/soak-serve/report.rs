//! The end of a run: the counts, the samples, the first failures, then
//! one line per check (`check NAME: ok|FAIL — …`). The script adds the
//! shutdown check and the verdict.

use crate::Soak;
use crate::net::{self, request};
use crate::sample::{self, Flat, Samples};
use crate::setup::PLUGINS;
use crate::tally::Class;
use std::collections::BTreeSet;

const MIB: f64 = (1 << 20) as f64;
const KIB: f64 = 1024.0;

/// Prints the report; whether every check held.
pub async fn print(soak: &Soak, samples: &Samples) -> bool {
    let seconds = soak.duration.as_secs_f64();
    println!(
        "soak-serve: {seconds:.0} s of load on plugbox serve (pid {}, http://{}), warm-up {:.0} s",
        soak.pid,
        soak.addr,
        sample::warm_up(seconds)
    );
    let totals: Vec<String> = Class::ALL
        .iter()
        .map(|c| format!("{} {}", c.name(), soak.tally.class(*c).0))
        .collect();
    println!("requests: {}", totals.join(", "));
    for class in Class::ALL {
        let (_, _, cases) = soak.tally.class(class);
        let cases: Vec<String> = cases
            .iter()
            .map(|(case, n, bad)| match bad {
                0 => format!("{case} {n}"),
                bad => format!("{case} {n} ({bad} unexpected)"),
            })
            .collect();
        println!("  {}: {}", class.name(), cases.join(", "));
    }
    let statuses: Vec<String> = soak
        .tally
        .statuses()
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!("answers by status: {}", statuses.join(", "));
    let reloads = soak.reloads.lock().expect("reloads lock").clone();
    let mut by_kind: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for r in reloads {
        *by_kind.entry(r).or_default() += 1;
    }
    let reloads: Vec<String> = by_kind
        .iter()
        .map(|((p, what), n)| format!("{p} {what} {n}"))
        .collect();
    println!("reloads: {}", reloads.join(", "));
    let row = |series: &sample::Series, unit: f64| {
        sample::spread(series, 11)
            .iter()
            .map(|(t, v)| format!("{t:.0}s {:.1}", *v as f64 / unit))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("rss (MiB): {}", row(&samples.rss, MIB));
    println!("/metrics (KiB): {}", row(&samples.metrics, KIB));
    let (failures, failed) = soak.tally.failures();
    if failed > 0 {
        println!("unexpected answers and failures: {failed}; the first of each case:");
        for f in &failures {
            println!("  {f}");
        }
    }

    let mut checks = Vec::new();
    for (class, name, what) in [
        (
            Class::Normal,
            "normal requests",
            "answered with the expected status and body",
        ),
        (
            Class::Hostile,
            "hostile requests",
            "answered with their 4xx or cut off as expected",
        ),
        (
            Class::Guest,
            "guest calls",
            "stopped by their limit, with its status and kind",
        ),
        (
            Class::Reload,
            "reloads",
            "probes: new versions served, broken ones refused while the old served",
        ),
    ] {
        let (n, bad, _) = soak.tally.class(class);
        let ok = n > 0 && bad == 0;
        checks.push((name.to_string(), ok, format!("{} of {n} {what}", n - bad)));
    }
    let mut rss = flat_check(
        "rss",
        &samples.rss,
        seconds,
        sample::RSS_MARGIN,
        sample::RSS_MARGIN_RATIO,
        MIB,
        "MiB",
    );
    let mut metrics = flat_check(
        "metrics size",
        &samples.metrics,
        seconds,
        sample::METRICS_MARGIN,
        sample::METRICS_MARGIN_RATIO,
        KIB,
        "KiB",
    );
    let (labels, leaked) = labels_check(soak).await;
    // Names kept as label values cost memory and /metrics both.
    for check in [&mut rss, &mut metrics] {
        if !check.1 && leaked {
            check.2.push_str(
                " — see metrics labels: unknown names from URLs kept as label values (issue 21 item 1)",
            );
        }
    }
    checks.push(rss);
    checks.push(metrics);
    checks.push(labels);
    checks.push(server_check(soak).await);
    // The script prints its own check (shutdown) the same way.
    for (name, ok, what) in &checks {
        println!(
            "check {name:<16}  {:<4}  {what}",
            if *ok { "ok" } else { "FAIL" }
        );
    }
    checks.iter().all(|c| c.1)
}

fn flat_check(
    name: &str,
    series: &sample::Series,
    seconds: f64,
    margin: u64,
    ratio: f64,
    unit: f64,
    unit_name: &str,
) -> (String, bool, String) {
    match Flat::of(series, seconds, margin, ratio) {
        None => (
            name.into(),
            false,
            format!("too few samples ({})", series.len()),
        ),
        Some(f) => (
            name.into(),
            f.ok(),
            format!(
                "peak of the first third after warm-up {:.1} {unit_name}, of the last third {:.1} {unit_name} ({:+.1}; flat within {:.1})",
                f.first as f64 / unit,
                f.last as f64 / unit,
                (f.last as f64 - f.first as f64) / unit,
                f.margin as f64 / unit,
            ),
        ),
    }
}

/// The `plugin` label values of a `/metrics` text, as written (escapes
/// kept).
fn plugin_labels(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("plugin=\"") {
            rest = &rest[at + 8..];
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let mut end = rest.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        value.push(c);
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            out.insert(value);
            rest = &rest[end..];
        }
    }
    out
}

/// Only loaded plugins are label values, and no line was injected; and
/// whether names the clients sent are label values.
async fn labels_check(soak: &Soak) -> ((String, bool, String), bool) {
    let name = "metrics labels".to_string();
    let answer = net::fresh(
        soak.addr,
        http::Version::HTTP_11,
        request("GET", "/metrics", ""),
    )
    .await;
    let text = match answer {
        Ok(r) if r.status == 200 => r.text(),
        Ok(r) => {
            return (
                (name, false, format!("/metrics answered {}", r.status)),
                false,
            );
        }
        Err(e) => return ((name, false, format!("/metrics: {e}")), false),
    };
    // Names the hostile clients sent, kept as label values; any other
    // value that is no plugin may be the one label of unknown names.
    let (sent, other): (Vec<String>, Vec<String>) = plugin_labels(&text)
        .into_iter()
        .filter(|p| !PLUGINS.contains(&p.as_str()))
        .partition(|p| {
            p.starts_with(crate::hostile::UNKNOWN_PREFIX) || p.contains("plugbox_injected")
        });
    let injected = text
        .lines()
        .any(|l| l.starts_with("plugbox_injected_total"));
    let mut problems = Vec::new();
    if let Some(example) = sent.first() {
        problems.push(format!(
            "{} `plugin` label values are names from URLs, e.g. `{}` (unknown names kept, issue 21 item 1)",
            sent.len(),
            crate::clip(&example.chars().take(40).collect::<String>())
        ));
    }
    if other.len() > 1 {
        problems.push(format!(
            "{} `plugin` label values are no loaded plugin, e.g. `{}`",
            other.len(),
            crate::clip(&other[0].chars().take(40).collect::<String>())
        ));
    }
    if injected {
        problems.push(
            "a URL injected the line `plugbox_injected_total 12345` (label values unescaped, issue 21 item 2)".into(),
        );
    }
    let leaked = !sent.is_empty();
    if !problems.is_empty() {
        return ((name, false, problems.join("; ")), leaked);
    }
    let what = match other.first() {
        None => format!(
            "only the {} loaded plugins are label values; no line injected",
            PLUGINS.len()
        ),
        Some(fixed) => format!(
            "only the {} loaded plugins and `{}` (unknown names) are label values; no line injected",
            PLUGINS.len(),
            crate::clip(fixed)
        ),
    };
    ((name, true, what), leaked)
}

/// The server is still running, answers `/healthz` and logged no panic.
async fn server_check(soak: &Soak) -> (String, bool, String) {
    let name = "server".to_string();
    if sample::rss(soak.pid).is_none() {
        return (name, false, format!("process {} is gone", soak.pid));
    }
    let answer = net::fresh(
        soak.addr,
        http::Version::HTTP_11,
        request("GET", "/healthz", ""),
    )
    .await;
    if !matches!(&answer, Ok(r) if r.status == 200) {
        return (name, false, "/healthz did not answer 200".into());
    }
    let log = std::fs::read_to_string(&soak.log).unwrap_or_default();
    if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
        return (
            name,
            false,
            format!("its log has a panic: {}", crate::clip(line)),
        );
    }
    (
        name,
        true,
        "still running, /healthz 200, no panic in its log".into(),
    )
}
