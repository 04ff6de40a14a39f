//! {{name}}: a WASI command. `{{name}} world` prints `hello, world`; with no
//! argument it reads a name from stdin. Build for `wasm32-wasip2` and run with
//! `plugbox run`.

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut name = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        if let Err(e) = std::io::stdin().read_to_string(&mut name) {
            eprintln!("cannot read stdin: {e}");
            return ExitCode::FAILURE;
        }
        name = name.trim().to_string();
    }
    if name.is_empty() {
        eprintln!("nobody to greet");
        return ExitCode::FAILURE;
    }
    println!("hello, {name}");
    ExitCode::SUCCESS
}
