//! A local directory as a target (a share already mounted, or for trying the tool).

use super::{Capacity, Entry, Store, StoreError, Upload};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A target rooted at a local directory.
pub struct LocalStore {
    root: PathBuf,
    name: String,
}

impl LocalStore {
    /// Opens an existing directory.
    pub fn open(root: &Path) -> Result<LocalStore, StoreError> {
        let name = root.display().to_string();
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(LocalStore {
                root: root.to_path_buf(),
                name,
            }),
            Ok(_) => Err(StoreError::NotFound {
                target: name.clone(),
                what: "directory".into(),
                detail: format!(" ({name} is not a directory)"),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound {
                target: name.clone(),
                what: "directory".into(),
                detail: format!(" ({name} does not exist; create it, or mount the share there)"),
            }),
            Err(e) => Err(StoreError::from_io(&name, "open", "", e)),
        }
    }

    /// Opens `root`, creating it first when it is missing but its parent exists (never a
    /// whole chain of directories: a missing mount point must not become a local folder).
    pub fn open_or_create(root: &Path) -> Result<LocalStore, StoreError> {
        if !root.exists() {
            let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_none_or(|p| p.is_dir()) {
                fs::create_dir(root).map_err(|e| {
                    StoreError::from_io(&root.display().to_string(), "create directory", "", e)
                })?;
            }
        }
        Self::open(root)
    }

    /// The local path of a target path; refuses anything but plain relative components.
    fn full(&self, rel: &str) -> Result<PathBuf, StoreError> {
        let mut p = self.root.clone();
        for part in super::rel_components(rel).map_err(|e| self.err("use", rel, e))? {
            p.push(part);
        }
        Ok(p)
    }

    fn err(&self, op: &'static str, rel: &str, e: io::Error) -> StoreError {
        StoreError::from_io(&self.name, op, rel, e)
    }
}

struct LocalUpload<'a> {
    target: &'a LocalStore,
    rel: String,
    tmp: Option<tempfile::NamedTempFile>,
    written: u64,
}

impl Write for LocalUpload<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .tmp
            .as_mut()
            .expect("upload already committed")
            .write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.as_mut().expect("upload already committed").flush()
    }
}

impl Upload for LocalUpload<'_> {
    fn commit(mut self: Box<Self>) -> Result<u64, StoreError> {
        let tmp = self.tmp.take().expect("upload already committed");
        let rel = self.rel.clone();
        let t = self.target;
        tmp.as_file()
            .sync_all()
            .map_err(|e| t.err("sync", &rel, e))?;
        let found = tmp
            .as_file()
            .metadata()
            .map_err(|e| t.err("stat", &rel, e))?
            .len();
        StoreError::check_size(&t.name, &rel, self.written, found)?;
        let dest = t.full(&rel)?;
        // persist_noclobber: never replaces an existing file.
        tmp.persist_noclobber(&dest)
            .map_err(|e| t.err("rename into place", &rel, e.error))?;
        if let Some(parent) = dest.parent() {
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(found)
    }
}

impl Store for LocalStore {
    fn display(&self) -> String {
        self.name.clone()
    }

    fn mkdir_all(&self, dir: &str) -> Result<(), StoreError> {
        fs::create_dir_all(self.full(dir)?).map_err(|e| self.err("create directory", dir, e))
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, StoreError> {
        let rd = fs::read_dir(self.full(dir)?).map_err(|e| self.err("list", dir, e))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| self.err("list", dir, e))?;
            // DirEntry::metadata does not follow symlinks: a symlink planted on the target is
            // listed as a file (so removing a tree removes the link, never what it points to).
            let m = match e.metadata() {
                Ok(m) => m,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(self.err("stat", dir, err)),
            };
            out.push(Entry {
                name: e.file_name().to_string_lossy().into_owned(),
                is_dir: m.file_type().is_dir(),
                size: m.len(),
                modified: m.modified().ok(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn stat(&self, path: &str) -> Result<Option<Entry>, StoreError> {
        let full = self.full(path)?;
        match fs::symlink_metadata(&full) {
            Ok(m) => Ok(Some(Entry {
                name: full
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                is_dir: m.is_dir(),
                size: m.len(),
                modified: m.modified().ok(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("stat", path, e)),
        }
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>, StoreError> {
        // Only regular files are read: a symlink, FIFO or device planted on the target is
        // refused (a FIFO would block, a symlink could point anywhere on this host).
        let mut o = OpenOptions::new();
        o.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let f = o
            .open(self.full(path)?)
            .map_err(|e| self.err("open", path, e))?;
        let m = f.metadata().map_err(|e| self.err("open", path, e))?;
        if !m.is_file() {
            return Err(self.err(
                "open",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        Ok(Box::new(io::BufReader::with_capacity(1 << 20, f)))
    }

    fn create(&self, path: &str) -> Result<Box<dyn Upload + '_>, StoreError> {
        let dest = self.full(path)?;
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        let base = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{base}."))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| self.err("create", path, e))?;
        Ok(Box::new(LocalUpload {
            target: self,
            rel: path.to_string(),
            tmp: Some(tmp),
            written: 0,
        }))
    }

    fn create_new(&self, path: &str, data: &[u8]) -> Result<bool, StoreError> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.full(path)?)
        {
            Ok(mut f) => {
                f.write_all(data)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| self.err("write", path, e))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.err("create", path, e)),
        }
    }

    fn overwrite(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let mut f = OpenOptions::new()
            .write(true)
            .open(self.full(path)?)
            .map_err(|e| self.err("open", path, e))?;
        f.write_all(data)
            .and_then(|_| f.set_len(data.len() as u64))
            .and_then(|_| f.sync_all())
            .map_err(|e| self.err("write", path, e))
    }

    fn remove_file(&self, path: &str) -> Result<(), StoreError> {
        fs::remove_file(self.full(path)?).map_err(|e| self.err("delete", path, e))
    }

    fn remove_dir(&self, path: &str) -> Result<(), StoreError> {
        fs::remove_dir(self.full(path)?).map_err(|e| self.err("delete directory", path, e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let dest = self.full(to)?;
        if dest.exists() {
            return Err(StoreError::AlreadyExists {
                target: self.name.clone(),
                path: to.to_string(),
            });
        }
        fs::rename(self.full(from)?, dest).map_err(|e| self.err("rename", from, e))
    }

    fn capacity(&self) -> Result<Option<Capacity>, StoreError> {
        let total = fs4::total_space(&self.root).map_err(|e| self.err("statfs", "", e))?;
        let available = fs4::available_space(&self.root).map_err(|e| self.err("statfs", "", e))?;
        Ok(Some(Capacity { total, available }))
    }
}
