//! The example backend: one standard-library binary for the auth, platform and commerce roles.
//!
//! `backend` (or `backend serve`) answers `/health` (and `/healthz`; Cloud Run reserves some paths ending in z at a
//! service's URL, so probes and checks use `/health`) and `/` on $PORT; `backend migrate` is the entry point the
//! platform's migrations job runs before traffic moves. The role comes from `SERVICE_ROLE`, else from `K_SERVICE`
//! (the Cloud Run service name).
//!
//! Cloud Run sends SIGTERM before it stops an instance and kills it 10 s later. Rust's standard library has no signal
//! API, so the handler is installed with libc's `signal` (libc is linked anyway): it sets a flag and shuts the
//! listening socket down, which wakes the blocked `accept`; the server then stops accepting, waits for the
//! connections it already accepted and exits 0.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SHUT_RD: i32 = 0;
const SIG_ERR: usize = usize::MAX;

extern "C" {
    // `sighandler_t signal(int, sighandler_t)`; glibc installs the handler with BSD semantics (SA_RESTART).
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    // Async-signal-safe (POSIX). On Linux it makes a blocked accept() on a listening socket return (EINVAL); other
    // systems may leave it blocked until the next connection.
    fn shutdown(fd: i32, how: i32) -> i32;
}

static STOPPING: AtomicBool = AtomicBool::new(false);
static LISTENER_FD: AtomicI32 = AtomicI32::new(-1);

/// Runs in signal context: only atomics and async-signal-safe calls.
extern "C" fn on_stop_signal(_signum: i32) {
    STOPPING.store(true, Ordering::SeqCst);
    let fd = LISTENER_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        unsafe { shutdown(fd, SHUT_RD) };
    }
}

/// The schema changes this binary would apply, oldest first. The example has no schema.
const MIGRATIONS: &[&str] = &[];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => serve(),
        ["migrate"] => migrate(),
        _ => {
            eprintln!("usage: backend [serve | migrate]");
            ExitCode::from(2)
        }
    }
}

fn role() -> String {
    env::var("SERVICE_ROLE")
        .or_else(|_| env::var("K_SERVICE"))
        .unwrap_or_else(|_| "backend".to_string())
}

/// The migrations job's entry point: prints what it applies and exits 0; a real service runs its migrations here and
/// exits non-zero on failure, so the release stops before traffic moves.
fn migrate() -> ExitCode {
    let database = env::var("DB_NAME").unwrap_or_else(|_| "(DB_NAME unset)".to_string());
    log(
        "INFO",
        &format!(
            "migrate {}: {} migrations to apply to {}",
            role(),
            MIGRATIONS.len(),
            database
        ),
    );
    for name in MIGRATIONS {
        log("INFO", &format!("would apply {name}"));
    }
    if MIGRATIONS.is_empty() {
        log("INFO", "no schema: nothing to migrate");
    }
    ExitCode::SUCCESS
}

fn serve() -> ExitCode {
    let port = env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(listener) => listener,
        Err(err) => {
            log("ERROR", &format!("cannot listen on :{port}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    LISTENER_FD.store(listener.as_raw_fd(), Ordering::SeqCst);
    for signum in [SIGTERM, SIGINT] {
        if unsafe { signal(signum, on_stop_signal) } == SIG_ERR {
            log("ERROR", "cannot install the SIGTERM handler");
            return ExitCode::FAILURE;
        }
    }
    log("INFO", &format!("listening on :{port} as {}", role()));

    let mut in_flight: Vec<JoinHandle<()>> = Vec::new();
    while !STOPPING.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                in_flight.retain(|handle| !handle.is_finished());
                in_flight.push(thread::spawn(move || handle(stream)));
            }
            Err(_) if STOPPING.load(Ordering::SeqCst) => break,
            Err(err) => log("WARNING", &format!("accept: {err}")),
        }
    }
    in_flight.retain(|handle| !handle.is_finished());
    log("INFO", &format!("stopping: draining {} connections", in_flight.len()));
    for handle in in_flight {
        let _ = handle.join();
    }
    log("INFO", "stopped");
    ExitCode::SUCCESS
}

/// One request per connection (`Connection: close`), so draining a connection means finishing its request.
fn handle(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        content_length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
        }
    }
    let _ = reader.by_ref().take(content_length as u64).read_to_end(&mut Vec::new());

    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/health" | "/healthz") => (200, r#"{"status":"ok"}"#.to_string()),
        ("GET", "/") => (
            200,
            format!(
                r#"{{"service":{},"role":{},"revision":{}}}"#,
                json_string(&env::var("K_SERVICE").unwrap_or_else(|_| "backend".to_string())),
                json_string(&role()),
                env::var("K_REVISION")
                    .map(|r| json_string(&r))
                    .unwrap_or_else(|_| "null".to_string()),
            ),
        ),
        _ => (404, r#"{"error":"not found"}"#.to_string()),
    };
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
    log("INFO", &format!("{method} {path} {status}"));
}

/// One JSON line per event on stdout: Cloud Logging parses it into a structured entry.
fn log(severity: &str, message: &str) {
    println!(
        r#"{{"severity":{},"message":{}}}"#,
        json_string(severity),
        json_string(message)
    );
}

fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
