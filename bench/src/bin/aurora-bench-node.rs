//! `aurora`, built inside the benchmark package so its harness test can run it as a process.

fn main() -> std::process::ExitCode {
    aurora::cli::main()
}
