//! Progress on stderr: a spinner line per step with its elapsed time on a terminal, plain
//! timestamped lines otherwise (CI logs, pipes), nothing at all when quiet.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tty: bool,
    quiet: bool,
    started: Instant,
}

impl Progress {
    /// Draws a spinner when stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Self::with_terminal(quiet, std::io::stderr().is_terminal())
    }

    pub fn with_terminal(quiet: bool, tty: bool) -> Self {
        Progress {
            inner: Arc::new(Inner {
                tty,
                quiet,
                started: Instant::now(),
            }),
        }
    }

    /// Prints nothing (tests, `--quiet`).
    pub fn silent() -> Self {
        Self::with_terminal(true, false)
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.inner.started.elapsed().as_secs_f64())
    }

    /// A line of information.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.inner.quiet {
            eprintln!("{} {}", self.stamp(), msg.as_ref());
        }
    }

    /// A warning, shown even when quiet.
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }

    /// Starts a step; finish it with [`Step::done`] (or drop it on error).
    pub fn step(&self, msg: impl Into<String>) -> Step {
        let msg = msg.into();
        let started = Instant::now();
        let running = Arc::new(AtomicBool::new(true));
        let mut spinner = None;
        if !self.inner.quiet {
            if self.inner.tty {
                let (msg2, running2) = (msg.clone(), running.clone());
                // A plain thread, so the spinner also turns while the runtime is blocked in a build.
                spinner = Some(std::thread::spawn(move || {
                    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                    let mut i = 0;
                    while running2.load(Ordering::Relaxed) {
                        eprint!(
                            "\r\x1b[2K{} {msg2} ({:.0}s)",
                            frames[i % frames.len()],
                            started.elapsed().as_secs_f64()
                        );
                        let _ = std::io::stderr().flush();
                        i += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }));
            } else {
                eprintln!("{} {msg} ...", self.stamp());
            }
        }
        Step {
            progress: self.clone(),
            msg,
            started,
            running,
            spinner,
        }
    }
}

pub struct Step {
    progress: Progress,
    msg: String,
    started: Instant,
    running: Arc<AtomicBool>,
    spinner: Option<std::thread::JoinHandle<()>>,
}

impl Step {
    /// Marks the step done, with an optional short result such as "created".
    pub fn done(mut self, result: &str) {
        self.finish('✓', result);
    }

    fn finish(&mut self, mark: char, result: &str) {
        if !self.running.swap(false, Ordering::Relaxed) || self.progress.inner.quiet {
            return;
        }
        if let Some(spinner) = self.spinner.take() {
            let _ = spinner.join();
        }
        let took = self.started.elapsed().as_secs_f64();
        let sep = if result.is_empty() { "" } else { ": " };
        if self.progress.inner.tty {
            eprintln!("\r\x1b[2K{mark} {}{sep}{result} ({took:.1}s)", self.msg);
        } else {
            eprintln!(
                "{} {mark} {}{sep}{result} ({took:.1}s)",
                self.progress.stamp(),
                self.msg
            );
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.finish('✗', "failed");
    }
}
