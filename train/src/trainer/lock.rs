//! One process per run folder: a run holds an exclusive lock on `<run>/.lock` for as long as it
//! lives. The lock is the operating system's (`flock` on Unix), so it goes when its process does,
//! whatever kills it: a lock file left by a dead process is simply taken over. The file holds the
//! owner's process id, to name it to whoever is refused.

use crate::error::{Result, TrainError};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub const LOCK_FILE: &str = ".lock";

/// Held while a run folder is in use; dropping it (or the process ending) releases the folder.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes `dir`'s lock (creating `dir` if needed), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let who = holder(&mut file).map_or("another process".to_string(), |pid| format!("process {pid}"));
                return Err(TrainError::Invalid(format!(
                    "{} is in use by {who} (it holds {}); wait for it to finish, or choose another folder",
                    dir.display(),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(TrainError::io(&path, e)),
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| TrainError::io(&path, e))?;
        Ok(Self { _file: file })
    }
}

/// The process id the holder of `file`'s lock wrote into it. A holder writes its id just after it
/// takes the lock, over the id of whoever held it before, so for up to a second this waits for an
/// id of a living process (on Linux, one with a `/proc` entry) to appear.
fn holder(file: &mut File) -> Option<String> {
    let alive = |pid: &str| !cfg!(target_os = "linux") || Path::new("/proc").join(pid).exists();
    for _ in 0..50 {
        let mut owner = String::new();
        if file.rewind().and_then(|_| file.read_to_string(&mut owner)).is_ok() {
            let owner = owner.trim();
            if !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit()) && alive(owner) {
                return Some(owner.to_string());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_folder_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let held = RunLock::acquire(&run).unwrap();
        let e = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(e.contains(&format!("in use by process {}", std::process::id())), "{e}");
        drop(held);
        RunLock::acquire(&run).unwrap();
    }

    #[test]
    fn a_holder_that_has_not_yet_written_its_id_is_still_named() {
        // The race two runs started together hit: the winner holds the lock while the file still
        // names a dead process; its own id follows a moment later.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, "4000000").unwrap();
        let held = File::options().read(true).write(true).open(&path).unwrap();
        held.try_lock().unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            std::fs::write(&path, std::process::id().to_string()).unwrap();
            held
        });
        let e = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("in use by process {}", std::process::id())), "{e}");
        drop(late.join().unwrap());
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "4000000").unwrap();
        let _lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), std::process::id().to_string());
    }
}
