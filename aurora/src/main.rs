//! The `aurora` command. Everything lives in the library so tests run the very same entry point.

fn main() -> std::process::ExitCode {
    aurora::cli::main()
}
