//! Process helpers: run a command loudly, start a service in its own process
//! group, stop it by pid, and wait until a port answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Result;

/// Runs `cmd` with inherited output, printing it first; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed with {status}", describe(cmd)))
    }
}

/// Runs `cmd` quietly and returns its trimmed stdout, or `None` if it could not run or failed.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Human-readable form of a command, for logs.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Process groups of the services running now (see [`stop_all_on_interrupt`]).
static LIVE_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn kill_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals the process group we created with
    // process_group(0); it has no memory-safety preconditions.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// On Ctrl-C or SIGTERM, stops every running [`Service`] (SIGTERM, then
/// SIGKILL a second later) and exits with 130. Services live in their own
/// process groups, so without this an interrupted run would leave them
/// behind (destructors do not run when a signal ends the process). For
/// commands that have no shutdown path of their own.
pub fn stop_all_on_interrupt() -> Result<()> {
    ctrlc::set_handler(|| {
        let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
        eprintln!("\nxtask: interrupted; stopping {groups:?}");
        for &g in &groups {
            kill_group(g, libc::SIGTERM);
        }
        std::thread::sleep(Duration::from_secs(1));
        for &g in &groups {
            kill_group(g, libc::SIGKILL);
        }
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot install the interrupt handler: {e}"))
}

fn forget_group(pgid: u32) {
    if let Ok(mut g) = LIVE_GROUPS.lock() {
        g.retain(|&p| p != pgid);
    }
}

/// A service we started: its own process group, so that stopping it also
/// stops whatever it spawned (wrangler starts workerd as a child).
#[derive(Debug)]
pub struct Service {
    pub name: String,
    child: Child,
}

impl Service {
    /// Starts `cmd` in a new process group, stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &std::path::Path) -> Result<Service> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open log {}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("could not start {name} (`{}`): {e}", describe(cmd)))?;
        if let Ok(mut g) = LIVE_GROUPS.lock() {
            g.push(child.id());
        }
        Ok(Service {
            name: name.to_string(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (and reaps it if so).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: libc::c_int) {
        kill_group(self.child.id(), signal);
    }

    /// SIGKILL, as a crash would: no chance to clean up.
    pub fn crash(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
        forget_group(self.child.id());
    }

    /// SIGTERM, then SIGKILL if the group is still there after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.has_exited() {
            // The leader is gone, but its children may not be.
            self.signal(libc::SIGKILL);
            forget_group(self.child.id());
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.has_exited() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
        forget_group(self.child.id());
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

/// Polls until `check` returns true, or fails after `timeout` naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{what} did not answer within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 GET over loopback: returns the status code, or `None`.
/// (xtask stays dependency-light; the tests use a real client.)
pub fn http_get_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Sends PING to a Redis server and checks for PONG.
/// Whether something already accepts connections on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

pub fn redis_ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
