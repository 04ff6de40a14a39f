//! Misbehaving guests, called by a well-behaved client: each must be
//! stopped by its limit and answered with that limit's status and kind,
//! one after another, over a kept HTTP/1.1 connection.

use crate::net::{KeepAlive, request};
use crate::tally::Class;
use crate::{Soak, expect_error, record};
use std::sync::Arc;

/// (case, plugin/function, arguments, status, kind). `hostile` runs under
/// a 200 ms timeout, 1 MiB of memory, 10 000 table elements and
/// `trap-on-grow-failure`; `flood` under 256 KiB of captured output.
const CASES: [(&str, &str, &str, u16, &str); 8] = [
    ("infinite loop", "hostile/spin", "[]", 504, "trap.timeout"),
    (
        "memory bomb",
        "hostile/memory_bomb",
        "[]",
        422,
        "resource_limit",
    ),
    (
        "table bomb",
        "hostile/table_bomb",
        "[100000]",
        422,
        "resource_limit",
    ),
    (
        "deep recursion",
        "hostile/deep",
        "[0]",
        422,
        "trap.stack_overflow",
    ),
    (
        "unreachable",
        "traps/unreachable",
        "[]",
        500,
        "trap.unreachable",
    ),
    (
        "divide by zero",
        "traps/div_by_zero",
        "[0]",
        500,
        "trap.integer_division_by_zero",
    ),
    (
        "out-of-bounds load",
        "traps/oob_memory",
        "[]",
        500,
        "trap.memory_out_of_bounds",
    ),
    (
        "output flood",
        "flood/flood_stdout",
        "[]",
        422,
        "resource_limit",
    ),
];

pub async fn run(soak: Arc<Soak>) {
    let mut conn = KeepAlive::new(soak.addr);
    'run: loop {
        for (case, path, args, status, kind) in CASES {
            if !soak.running() {
                break 'run;
            }
            let answer = conn
                .send(request("POST", &format!("/v1/plugins/{path}"), args))
                .await;
            let outcome = expect_error(&answer, status, kind);
            record(&soak, Class::Guest, case, &answer, outcome);
        }
    }
}
