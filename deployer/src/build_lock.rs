//! One deployer's function build at a time per target directory: cargo links every workspace's
//! `bootstrap` at the same path of a shared target directory (a global `CARGO_TARGET_DIR`), and
//! its own lock ends with the build, so another workspace's build could replace the binary before
//! this deployer has read it. A deployer holds this lock from before cargo starts until it has
//! read what cargo wrote.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// The lock of one target directory, held until dropped (closing the file releases it).
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
}

/// The lock file of the build directory `dir` (created with it).
fn lock_path(dir: &Path) -> PathBuf {
    dir.join(".oncely-build-lock")
}

fn open(dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(dir))
}

impl BuildLock {
    /// Takes the lock of `dir`, waiting while another deployer holds it (`waiting` is called
    /// once, before the wait).
    pub fn acquire(dir: &Path, waiting: impl FnOnce()) -> std::io::Result<BuildLock> {
        let file = open(dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting();
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        Ok(BuildLock { _file: file })
    }

    /// Takes the lock of `dir` if no one holds it.
    pub fn try_acquire(dir: &Path) -> std::io::Result<Option<BuildLock>> {
        let file = open(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(BuildLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_until_its_holder_lets_go() {
        let tmp = testkit::temp_dir();
        let dir = tmp.path().join("zig");
        let held = BuildLock::try_acquire(&dir).unwrap().expect("free at first");
        assert!(lock_path(&dir).is_file());
        assert!(BuildLock::try_acquire(&dir).unwrap().is_none(), "held");
        // Another directory is another lock.
        assert!(BuildLock::try_acquire(&tmp.path().join("native")).unwrap().is_some());
        drop(held);
        assert!(BuildLock::try_acquire(&dir).unwrap().is_some(), "free again");
    }

    #[test]
    fn a_waiting_deployer_goes_on_when_the_holder_lets_go() {
        let tmp = testkit::temp_dir();
        let dir = tmp.path().to_path_buf();
        let held = BuildLock::acquire(&dir, || panic!("nobody holds it yet")).unwrap();
        let (told, waited) = std::sync::mpsc::channel();
        let (got, acquired) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let lock = BuildLock::acquire(&dir, || told.send(()).unwrap()).unwrap();
            got.send(()).unwrap();
            drop(lock);
        });
        waited.recv().unwrap();
        assert!(acquired.try_recv().is_err(), "not while the first holds it");
        drop(held);
        acquired.recv().unwrap();
        waiter.join().unwrap();
    }
}
