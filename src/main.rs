//! The `pitstop` binary: everything is in the library (see `lib.rs` for the
//! map); this only hands over the arguments and returns the exit code.

fn main() -> std::process::ExitCode {
    pitstop::cli::main(std::env::args_os().skip(1).collect())
}
