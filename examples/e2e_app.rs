//! A tiny static "application" for the end-to-end tests on the Docker engine (tests/docker.rs
//! builds it for musl and puts it in FROM-scratch images next to ward). Not part of ward.
//!
//!   e2e_app serve PORT [ON_TERM [START_MS]]
//!                                      HTTP on PORT: /healthz answers 200 until SIGUSR1, then
//!                                      503. PORT+1 accepts connections and never answers.
//!                                      SIGTERM: prints "app: got SIGTERM", exits ON_TERM (a
//!                                      status), or with ON_TERM `ignore` goes on. START_MS:
//!                                      listen only after that many milliseconds.
//!   e2e_app orphans N                  leaves N orphaned processes that exit 200 ms later
//!                                      (zombies unless PID 1 reaps them), then sleeps.
//!   e2e_app sleep                      sleeps, with every signal at its default action.
//!   e2e_app signal PID SIGNAL          sends SIGNAL (a number) to PID, for `docker exec` (Docker
//!                                      20.10's `docker kill -s` would also turn the restart
//!                                      policy off, as if the container had been stopped).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TERM: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

extern "C" fn on_usr1(_: libc::c_int) {
    USR1.store(true, Ordering::SeqCst);
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 2048];
    let _ = s.read(&mut buf);
    let (status, body) = if USR1.load(Ordering::SeqCst) {
        ("503 Service Unavailable", "stopping")
    } else {
        ("200 OK", "ok")
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve(port: u16, exit_on_term: Option<i32>, start_ms: u64) {
    // SAFETY: installing plain handlers that only store to atomics.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
    std::thread::sleep(Duration::from_millis(start_ms));
    let health = TcpListener::bind(("0.0.0.0", port)).expect("bind");
    health.set_nonblocking(true).expect("nonblocking");
    let silent = TcpListener::bind(("0.0.0.0", port + 1)).expect("bind");
    silent.set_nonblocking(true).expect("nonblocking");
    let mut held = Vec::new();
    say(&format!(
        "app: serving on {port}, pid {}",
        std::process::id()
    ));
    loop {
        if TERM.swap(false, Ordering::SeqCst) {
            say("app: got SIGTERM");
            match exit_on_term {
                Some(code) => std::process::exit(code),
                None => say("app: ignoring it"),
            }
        }
        if let Ok((s, _)) = health.accept() {
            let _ = s.set_nonblocking(false);
            answer(s);
        }
        if let Ok((s, _)) = silent.accept() {
            held.push(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn orphans(n: u32) {
    for _ in 0..n {
        // SAFETY: single-threaded program; the children only sleep and _exit.
        unsafe {
            let child = libc::fork();
            if child == 0 {
                if libc::fork() == 0 {
                    libc::usleep(200_000);
                    libc::_exit(0);
                }
                libc::_exit(0);
            }
            if child > 0 {
                libc::waitpid(child, std::ptr::null_mut(), 0);
            }
        }
    }
    say(&format!("app: left {n} orphans"));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", port, rest @ ..] if rest.len() <= 2 => {
            let on_term = match rest.first() {
                None => Some(0),
                Some(&"ignore") => None,
                Some(code) => Some(code.parse().expect("code")),
            };
            let start_ms = rest
                .get(1)
                .map_or(0, |ms| ms.parse().expect("milliseconds"));
            serve(port.parse().expect("port"), on_term, start_ms)
        }
        ["orphans", n] => orphans(n.parse().expect("count")),
        ["signal", pid, sig] => {
            let (pid, sig): (i32, i32) = (pid.parse().expect("pid"), sig.parse().expect("signal"));
            // SAFETY: kill(2) with plain integers.
            if unsafe { libc::kill(pid, sig) } != 0 {
                eprintln!("app: kill failed");
                std::process::exit(1);
            }
        }
        ["sleep"] => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => {
            eprintln!(
                "usage: e2e_app serve PORT [ON_TERM [START_MS]] | orphans N | sleep | signal PID SIG"
            );
            std::process::exit(2);
        }
    }
}
