//! `aurora`, built inside the end-to-end test package so its tests can run it as a process.

fn main() -> std::process::ExitCode {
    aurora::cli::main()
}
