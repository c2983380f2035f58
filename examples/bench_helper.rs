//! Measuring helper for bench/run (not part of ward). Built static for musl, so that the
//! process it forks from is small: ru_maxrss of a child counts the image it was forked from.
//!
//!   bench_helper run -- CMD ARGS...     runs CMD once; prints "wall_us user_us sys_us maxrss_kb
//!                                       status" (status: exit code, or 128+signal)
//!   bench_helper latency N -- INIT ARGS...  INIT must run `bench_helper sigchild`; sends SIGUSR1
//!                                       to INIT N times and prints, per signal, the µs until the
//!                                       child's handler ran
//!   bench_helper sigchild               writes the CLOCK_MONOTONIC time (8 bytes, ns) to stdout
//!                                       from its SIGUSR1 handler
//!   bench_helper burst N                run as the child of an init that is PID 1: leaves N
//!                                       orphans blocked on a pipe, releases them at once and
//!                                       prints the µs until PID 1 has reaped them all

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn cstrings(args: &[String]) -> (Vec<CString>, Vec<*const libc::c_char>) {
    let owned: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    (owned, ptrs)
}

/// fork + execvp with stdout (and, when `quiet`, stderr too) on `stdout_fd`. Returns the pid.
fn spawn(args: &[String], stdout_fd: Option<i32>, quiet: bool) -> i32 {
    let (_owned, ptrs) = cstrings(args);
    // SAFETY: the child only dup2s, execs, or _exits.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            if let Some(fd) = stdout_fd {
                libc::dup2(fd, 1);
                if quiet {
                    libc::dup2(fd, 2);
                }
            }
            libc::execvp(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
        pid
    }
}

fn run(args: &[String]) {
    // SAFETY: opening /dev/null for the child's output.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY) };
    let start = Instant::now();
    let pid = spawn(args, Some(null), true);
    let mut status = 0;
    // SAFETY: wait4 on our child with live out-parameters.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed().as_micros();
    // The field types differ between targets (32-bit time_t, suseconds_t).
    #[allow(clippy::unnecessary_cast)]
    let us = |tv: libc::timeval| tv.tv_sec as i64 * 1_000_000 + tv.tv_usec as i64;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    println!(
        "{wall} {} {} {} {code}",
        us(ru.ru_utime),
        us(ru.ru_stime),
        ru.ru_maxrss
    );
}

fn latency(n: usize, args: &[String]) {
    let mut fds = [0; 2];
    // SAFETY: pipe into a live array.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let init = spawn(args, Some(fds[1]), false);
    // SAFETY: we own the read end; the write end is closed in this process.
    let mut reader = unsafe {
        libc::close(fds[1]);
        std::fs::File::from_raw_fd(fds[0])
    };
    let mut ready = [0u8; 8];
    reader
        .read_exact(&mut ready)
        .expect("sigchild never started");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(3));
        let t0 = now_ns();
        // SAFETY: kill on the init we spawned.
        unsafe { libc::kill(init, libc::SIGUSR1) };
        let mut buf = [0u8; 8];
        if reader.read_exact(&mut buf).is_err() {
            break;
        }
        let t1 = u64::from_ne_bytes(buf);
        out.push(t1.saturating_sub(t0) as f64 / 1000.0);
    }
    // SAFETY: ending the init we spawned (its child dies of SIGTERM's default action).
    unsafe {
        libc::kill(init, libc::SIGTERM);
        libc::waitpid(init, std::ptr::null_mut(), 0);
    }
    let text: Vec<String> = out.iter().map(|v| format!("{v:.1}")).collect();
    println!("{}", text.join(" "));
}

extern "C" fn on_usr1(_: libc::c_int) {
    let t = now_ns().to_ne_bytes();
    // SAFETY: write is async-signal-safe; the buffer is on the stack.
    unsafe { libc::write(1, t.as_ptr().cast(), t.len()) };
}

fn sigchild() -> ! {
    // SAFETY: a handler that only calls clock_gettime and write.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        let zero = [0u8; 8];
        libc::write(1, zero.as_ptr().cast(), zero.len());
        loop {
            libc::pause();
        }
    }
}

fn children_of_pid1() -> usize {
    std::fs::read_to_string("/proc/1/task/1/children")
        .map(|s| s.split_whitespace().count())
        .unwrap_or(0)
}

/// Tasks in the whole system, zombies included (4th field of /proc/loadavg): cheap to read,
/// unlike the list of 50,000 children.
fn tasks() -> usize {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn burst(n: usize) {
    let base = tasks();
    let mut fds = [0; 2];
    // SAFETY: plain process plumbing; children only read, close and _exit.
    unsafe {
        libc::pipe(fds.as_mut_ptr());
        for _ in 0..n {
            let child = libc::fork();
            if child == 0 {
                if libc::fork() == 0 {
                    libc::close(fds[1]);
                    let mut b = 0u8;
                    libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        libc::close(fds[0]);
    }
    // All orphans are PID 1's children now (plus this process).
    while children_of_pid1() < n + 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    // SAFETY: closing the last write end releases every orphan at once.
    unsafe { libc::close(fds[1]) };
    // Every orphan is gone once the system is back to its task count before the burst (a
    // little slack for whatever else runs), then confirm with PID 1's list of children. The
    // cheap count is checked often; PID 1's list (costly while it is long) every 100 ms, so a
    // process started elsewhere meanwhile cannot keep the count up forever.
    let mut last_list = Instant::now();
    while tasks() > base + 2 {
        if last_list.elapsed() > Duration::from_millis(100) {
            if children_of_pid1() <= 1 {
                break;
            }
            last_list = Instant::now();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    while children_of_pid1() > 1 {
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", start.elapsed().as_micros());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = |from: usize| -> Vec<String> {
        let mut r = args[from..].to_vec();
        if r.first().is_some_and(|a| a == "--") {
            r.remove(0);
        }
        r
    };
    match args.first().map(String::as_str) {
        Some("run") => run(&rest(1)),
        Some("latency") => latency(args[1].parse().expect("count"), &rest(2)),
        Some("sigchild") => sigchild(),
        Some("burst") => burst(args[1].parse().expect("count")),
        _ => {
            eprintln!("usage: bench_helper run|latency|sigchild|burst ...");
            std::process::exit(2);
        }
    }
}
