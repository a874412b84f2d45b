//! Starting and killing `bootstrap` processes, and whether a process exists: with `session.rs`'s
//! user id, the local stack's only `unsafe` code (each block says why it is sound).
//!
//! Leaving nothing behind: each `bootstrap` runs in its own process group (so a terminal's Ctrl-C
//! reaches only us, and we stop the children in order), is killed with its group on timeout,
//! shutdown and drop, and gets `PR_SET_PDEATHSIG = SIGKILL` (Linux) so that it dies even when we
//! are killed with SIGKILL. That signal fires when the *thread* that forked exits; processes are
//! spawned from tokio worker threads, which live as long as the runtime (nothing here uses
//! `block_in_place`, which could retire a worker thread early).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// Starts `binary` in its own process group, in its directory, with exactly `env` (later
/// entries win), no stdin and piped stdout and stderr; killed when the [`Child`] drops.
pub fn spawn<K, V>(binary: &Path, env: impl IntoIterator<Item = (K, V)>) -> std::io::Result<Child>
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(dir) = binary.parent() {
        cmd.current_dir(dir);
    }
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the parent exited while starting bootstrap"));
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
}

/// Kills the process group `pid` (a process started by [`spawn`] leads its own group).
pub fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Whether process `pid` exists.
pub fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence; no memory is involved.
    unsafe { libc::kill(pid, 0) == 0 }
}
