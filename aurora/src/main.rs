//! The `aurora` command. Everything lives in the library so tests run the very same entry point.

/// mimalloc, not glibc's malloc: allocation and freeing were the largest CPU cost of a worker
/// draining no-op tasks (about a quarter of the process's CPU in `perf`; README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aurora::cli::main()
}
