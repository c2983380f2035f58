//! A tiny static "application" for the end-to-end tests on the Docker engine (tests/docker.rs
//! builds it for musl and puts it in FROM-scratch images next to ward). Not part of ward.
//!
//!   e2e_app serve PORT [EXIT_ON_TERM]  HTTP on PORT: /healthz answers 200 until SIGUSR1, then
//!                                      503. PORT+1 accepts connections and never answers.
//!                                      SIGTERM: prints "app: got SIGTERM", exits EXIT_ON_TERM.
//!   e2e_app orphans N                  leaves N orphaned processes that exit 200 ms later
//!                                      (zombies unless PID 1 reaps them), then sleeps.
//!   e2e_app sleep                      sleeps, with every signal at its default action.

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

fn serve(port: u16, exit_on_term: i32) {
    // SAFETY: installing plain handlers that only store to atomics.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
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
        if TERM.load(Ordering::SeqCst) {
            say("app: got SIGTERM");
            std::process::exit(exit_on_term);
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
        ["serve", port] => serve(port.parse().expect("port"), 0),
        ["serve", port, code] => serve(port.parse().expect("port"), code.parse().expect("code")),
        ["orphans", n] => orphans(n.parse().expect("count")),
        ["sleep"] => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => {
            eprintln!("usage: e2e_app serve PORT [EXIT_ON_TERM] | orphans N | sleep");
            std::process::exit(2);
        }
    }
}
