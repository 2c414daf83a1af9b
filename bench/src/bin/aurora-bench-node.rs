//! `aurora`, built inside the benchmark package so its harness test can run it as a process.

/// mimalloc, not glibc's malloc: allocation and freeing were the largest CPU cost of a worker
/// draining no-op tasks (about a quarter of the process's CPU in `perf`; README "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aurora::cli::main()
}
