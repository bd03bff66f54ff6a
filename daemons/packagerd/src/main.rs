//! packagerd: the HLS packaging daemon.

fn main() -> std::process::ExitCode {
    // glibc serves a large block (≥ 128 KiB at first) with its own mmap,
    // returned to the system when freed, but each such free raises that
    // threshold to the block's size, after which the packager's large,
    // short-lived buffers (segments, the DVR window's rendered playlist
    // that grows with every segment) come from the heap, where the small
    // long-lived allocations between them keep it from shrinking: RSS
    // grew 3.2 MB an hour of stream with a DVR window, 0.3 MB without
    // one, 1.1 MB with the threshold held (bench/README.md, "where
    // packagerd's memory went"). Held at 64 KiB: those buffers live in
    // mmaps of their own, a few hundred syscalls a minute.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
    stage_core::daemon::main(
        "packagerd",
        "StreamStage packager: HLS from memory, channel info and the player page",
        |cfg, shutdown| Box::pin(packagerd::run(cfg, shutdown)),
    )
}
