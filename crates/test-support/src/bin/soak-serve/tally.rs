//! What the clients saw: requests by class and case, answers by status,
//! and every answer that was not the expected one.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Who sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A well-behaved client calling well-behaved plugins: must get
    /// exactly the expected status and body.
    Normal,
    /// A hostile client: must get its 4xx/5xx (or be cut off), and never
    /// take the server down.
    Hostile,
    /// A well-behaved client calling a misbehaving guest: must get the
    /// limit that stops it.
    Guest,
    /// The reloader's own probes: a new version served, a broken one
    /// refused while the old one serves.
    Reload,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Normal, Class::Hostile, Class::Guest, Class::Reload];

    pub fn name(self) -> &'static str {
        match self {
            Class::Normal => "normal",
            Class::Hostile => "hostile",
            Class::Guest => "guests",
            Class::Reload => "reloads",
        }
    }
}

/// How an answer is counted among the statuses: its code, or what
/// happened instead.
pub fn status_key(status: Option<u16>, closed: bool) -> String {
    match (status, closed) {
        (Some(code), _) => code.to_string(),
        (None, true) => "closed".into(),
        (None, false) => "no answer".into(),
    }
}

#[derive(Default)]
struct Counts {
    /// (requests, unexpected) by case.
    cases: BTreeMap<(Class, &'static str), (u64, u64)>,
    statuses: BTreeMap<String, u64>,
    /// The first failures of each case, in order, and how many there were
    /// in all.
    failures: Vec<String>,
    failed: u64,
}

/// Failures kept word for word, of each case and in all; the rest are
/// counted.
const KEPT_PER_CASE: u64 = 3;
const KEPT_FAILURES: usize = 40;

impl Counts {
    fn fail(&mut self, class: Class, case: &'static str, what: String) {
        let entry = self.cases.entry((class, case)).or_default();
        entry.1 += 1;
        let nth = entry.1;
        self.failed += 1;
        if nth <= KEPT_PER_CASE && self.failures.len() < KEPT_FAILURES {
            self.failures
                .push(format!("{} {case}: {what}", class.name()));
        }
    }
}

#[derive(Default)]
pub struct Tally {
    counts: Mutex<Counts>,
}

impl Tally {
    /// Counts one request of `case`: its answer (`status`, see
    /// [`status_key`]) and whether it was the expected one (`Err`: what was
    /// wrong).
    pub fn record(
        &self,
        class: Class,
        case: &'static str,
        status: String,
        outcome: Result<(), String>,
    ) {
        let mut counts = self.counts.lock().expect("tally lock");
        let entry = counts.cases.entry((class, case)).or_default();
        entry.0 += 1;
        *counts.statuses.entry(status).or_default() += 1;
        if let Err(what) = outcome {
            counts.fail(class, case, what);
        }
    }

    /// A failure that is not an answer to one request (a reload never
    /// served, a task that did not stop).
    pub fn fail(&self, class: Class, case: &'static str, what: String) {
        self.counts
            .lock()
            .expect("tally lock")
            .fail(class, case, what);
    }

    /// (requests, unexpected) of a class, and its cases with their counts.
    pub fn class(&self, class: Class) -> (u64, u64, Vec<(&'static str, u64, u64)>) {
        let counts = self.counts.lock().expect("tally lock");
        let cases: Vec<_> = counts
            .cases
            .iter()
            .filter(|((c, _), _)| *c == class)
            .map(|((_, case), (n, bad))| (*case, *n, *bad))
            .collect();
        let n = cases.iter().map(|c| c.1).sum();
        let bad = cases.iter().map(|c| c.2).sum();
        (n, bad, cases)
    }

    pub fn statuses(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("tally lock").statuses.clone()
    }

    /// The first failures and how many there were in all.
    pub fn failures(&self) -> (Vec<String>, u64) {
        let counts = self.counts.lock().expect("tally lock");
        (counts.failures.clone(), counts.failed)
    }
}
