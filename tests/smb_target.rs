//! Integration tests of `SmbStore` against a throwaway Samba server:
//!
//! ```sh
//! scripts/samba-server.sh start /tmp/azs-smb && . /tmp/azs-smb/env
//! AZS_TEST_SMB=required cargo test --test smb_target
//! scripts/samba-server.sh stop /tmp/azs-smb
//! ```
//!
//! Without `AZS_TEST_SMB_HOST` the tests print a notice and pass, unless `AZS_TEST_SMB=required`.
//! The tests run one at a time (one lock): one of them restarts the server, one sets the
//! timeout variable, and libsmbclient serialises everything anyway. Across test binaries
//! (`tests/smb/cli.rs`), the tests that restart the server or fill the tiny share take the
//! server lock of `smb_common` exclusively, the others shared.
#![cfg(feature = "smb")]

mod smb_common;

use azs_backup::store::smb::{SmbStore, TIMEOUT_ENV, WRITE_BATCH};
use azs_backup::store::spec::UncPath;
use azs_backup::store::{Credentials, Entry, Store, StoreError};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

struct Env {
    host: String,
    port: u16,
    user: String,
    password: String,
    share: String,
    /// The server's directory (`scripts/samba-server.sh start DIR`), when on this machine.
    dir: Option<PathBuf>,
    tiny_share: Option<String>,
    tiny_bytes: u64,
}

static SERIAL: Mutex<()> = Mutex::new(());
static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();

/// Held for the length of a test: this binary's lock, then the server lock shared with the
/// other SMB test binaries.
struct Guard {
    _server: smb_common::ServerLock,
    _serial: MutexGuard<'static, ()>,
}

/// Takes the test lock and reads the server's environment; `None` (after a notice) when no
/// server is configured and it is not required.
fn setup(test: &str) -> Option<(Guard, Env)> {
    setup_lock(test, false)
}

/// [`setup`] for tests that restart the server or fill the tiny share: the server lock is
/// taken exclusively.
fn setup_exclusive(test: &str) -> Option<(Guard, Env)> {
    setup_lock(test, true)
}

fn setup_lock(test: &str, exclusive: bool) -> Option<(Guard, Env)> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let host = match std::env::var("AZS_TEST_SMB_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => {
            if std::env::var("AZS_TEST_SMB").as_deref() == Ok("required") {
                panic!("AZS_TEST_SMB=required but AZS_TEST_SMB_HOST is not set: start scripts/samba-server.sh and source its env file");
            }
            eprintln!("skipping {test}: AZS_TEST_SMB_HOST is not set (run scripts/samba-server.sh start DIR and source DIR/env)");
            return None;
        }
    };
    // libsmbclient reads $HOME/.smb/smb.conf once per process, at the first connection: give it
    // an empty one so that the machine's /etc/samba/smb.conf plays no part.
    HOME.get_or_init(|| {
        let home = tempfile::tempdir().expect("temp HOME");
        std::fs::create_dir_all(home.path().join(".smb")).unwrap();
        std::fs::write(home.path().join(".smb/smb.conf"), "[global]\n").unwrap();
        std::env::set_var("HOME", home.path());
        home
    });
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let dir = std::env::var("AZS_TEST_SMB_DIR")
        .ok()
        .map(PathBuf::from)
        .filter(|d| d.join("share").is_dir());
    let tiny_share = std::env::var("AZS_TEST_SMB_TINY_SHARE")
        .ok()
        .filter(|s| !s.is_empty());
    let env = Env {
        host,
        port: var("AZS_TEST_SMB_PORT").parse().expect("AZS_TEST_SMB_PORT"),
        user: var("AZS_TEST_SMB_USER"),
        password: var("AZS_TEST_SMB_PASSWORD"),
        share: var("AZS_TEST_SMB_SHARE"),
        dir,
        tiny_share,
        tiny_bytes: std::env::var("AZS_TEST_SMB_TINY_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    };
    let guard = Guard {
        _server: smb_common::server_lock(env.dir.as_deref(), exclusive),
        _serial: serial,
    };
    Some((guard, env))
}

impl Env {
    fn unc(&self, share: &str, folders: &[&str]) -> UncPath {
        UncPath {
            host: self.host.clone(),
            port: Some(self.port),
            share: share.to_string(),
            folders: folders.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn creds(&self) -> Credentials {
        Credentials {
            username: self.user.clone(),
            password: zeroize::Zeroizing::new(self.password.clone()),
        }
    }

    /// Connects to a fresh folder (not yet created) of the share.
    fn fresh(&self, share: &str, test: &str) -> (SmbStore, String) {
        let folder = format!("t-{test}-{}", uuid::Uuid::new_v4().simple());
        let t = SmbStore::connect(&self.unc(share, &[&folder]), Some(&self.creds()))
            .unwrap_or_else(|e| panic!("connect: {e}"));
        (t, folder)
    }

    /// The folder's directory on the server's disk, when the server runs on this machine.
    fn local(&self, share_dir: &str, folder: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join("share").join(share_dir).join(folder))
    }
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

fn local_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Deterministic, non-repeating-looking test data.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn files_and_directories_round_trip() {
    let Some((_g, env)) = setup("files_and_directories_round_trip") else {
        return;
    };
    let (t, folder) = env.fresh(&env.share, "basic");
    assert!(t.display().contains(&folder), "{}", t.display());
    assert!(!t.display().contains(&env.password));
    // The root folder does not exist yet; mkdir_all("") creates it.
    assert_eq!(t.stat("").unwrap(), None);
    assert!(matches!(t.list(""), Err(StoreError::NotFound { .. })));
    t.mkdir_all("").unwrap();
    let root = t.stat("").unwrap().expect("root folder created");
    assert!(root.is_dir);
    assert!(t.list("").unwrap().is_empty());

    t.mkdir_all("a/b").unwrap();
    t.mkdir_all("a/b").unwrap(); // exists: fine (found by the failed mkdir, then a stat)
    t.write_all("a/f", b"x").unwrap();
    match t.mkdir_all("a/f") {
        Err(StoreError::AlreadyExists { path, .. }) => assert_eq!(path, "a/f"),
        other => panic!("a file taken for a folder: {other:?}"),
    }
    t.remove_file("a/f").unwrap();
    assert!(t.stat("a/b").unwrap().unwrap().is_dir);
    assert_eq!(t.stat("a/nope").unwrap(), None);

    let mut up = t.create("a/b/f.txt").unwrap();
    up.write_all(b"hello").unwrap();
    assert_eq!(up.commit().unwrap(), 5);
    assert_eq!(t.read_all("a/b/f.txt").unwrap(), b"hello");
    let mut s = String::new();
    t.open("a/b/f.txt").unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello");
    let listed = t.list("a/b").unwrap();
    assert_eq!(listed.len(), 1);
    let Entry {
        name, is_dir, size, ..
    } = &listed[0];
    assert_eq!((name.as_str(), *is_dir, *size), ("f.txt", false, 5));
    assert!(listed[0].modified.is_some());
    let f = t.stat("a/b/f.txt").unwrap().unwrap();
    assert_eq!((f.name.as_str(), f.is_dir, f.size), ("f.txt", false, 5));
    // Listing errors name their cause, not "bad file descriptor".
    assert!(matches!(
        t.list("a/missing"),
        Err(StoreError::NotFound { .. })
    ));
    match t.list("a/b/f.txt") {
        Err(StoreError::Io { source, .. }) => {
            assert_eq!(source.kind(), ErrorKind::NotADirectory)
        }
        other => panic!("list of a file: {other:?}"),
    }
    assert!(matches!(
        t.open("a/missing.txt"),
        Err(StoreError::NotFound { .. })
    ));

    // create_new: only once.
    assert!(t.create_new("a/lock", b"owner 1").unwrap());
    assert!(!t.create_new("a/lock", b"owner 2").unwrap());
    assert!(
        !t.create_new("a/LOCK", b"owner 3").unwrap(),
        "names are case-insensitive"
    );
    assert_eq!(t.read_all("a/lock").unwrap(), b"owner 1");

    // rename: moves, and refuses an existing destination without touching it.
    t.rename("a/b/f.txt", "a/g.txt").unwrap();
    assert_eq!(t.stat("a/b/f.txt").unwrap(), None);
    assert_eq!(t.read_all("a/g.txt").unwrap(), b"hello");
    match t.rename("a/g.txt", "a/lock") {
        Err(StoreError::AlreadyExists { path, .. }) => assert_eq!(path, "a/lock"),
        other => panic!("rename onto an existing name: {other:?}"),
    }
    assert_eq!(t.read_all("a/lock").unwrap(), b"owner 1");
    assert_eq!(t.read_all("a/g.txt").unwrap(), b"hello");
    t.rename("a/b", "a/c").unwrap();
    assert!(t.stat("a/c").unwrap().unwrap().is_dir);

    // write_all replaces.
    t.write_all("a/g.txt", b"replaced").unwrap();
    assert_eq!(t.read_all("a/g.txt").unwrap(), b"replaced");

    let mut listed = t.list("a").unwrap();
    listed.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(names(&listed), vec!["c", "g.txt", "lock"]);
    assert!(listed[0].is_dir && !listed[1].is_dir);
    assert_eq!(listed[1].size, 8);

    // removal
    assert!(
        matches!(t.remove_dir("a"), Err(StoreError::Io { .. })),
        "not empty"
    );
    t.remove_file("a/lock").unwrap();
    assert_eq!(t.stat("a/lock").unwrap(), None);
    assert!(matches!(
        t.remove_file("a/lock"),
        Err(StoreError::NotFound { .. })
    ));
    t.remove_dir("a/c").unwrap();
    assert_eq!(t.stat("a/c").unwrap(), None);
    t.remove_tree("a").unwrap();
    assert!(t.list("").unwrap().is_empty());
    if let Some(local) = env.local("backups", &folder) {
        assert!(local_names(&local).is_empty());
    }
    t.remove_dir("").unwrap();
}

#[test]
fn large_upload_is_complete() {
    let Some((_g, env)) = setup("large_upload_is_complete") else {
        return;
    };
    let (t, folder) = env.fresh(&env.share, "large");
    t.mkdir_all("").unwrap();
    let data = pattern(2 * WRITE_BATCH + 3 * 65_536 + 123);
    let mut up = t.create("big.bin").unwrap();
    // Small writes, as an encoder would do them; the upload batches them.
    for chunk in data.chunks(65_536) {
        up.write_all(chunk).unwrap();
    }
    // While uploading, only a temporary name exists.
    let during = t.list("").unwrap();
    assert_eq!(during.len(), 1);
    assert!(during[0].name.starts_with(".big.bin.") && during[0].name.ends_with(".partial"));
    assert_eq!(t.stat("big.bin").unwrap(), None);
    assert_eq!(up.commit().unwrap(), data.len() as u64);
    assert_eq!(t.stat("big.bin").unwrap().unwrap().size, data.len() as u64);
    assert_eq!(names(&t.list("").unwrap()), vec!["big.bin"]);
    let back = t.read_all("big.bin").unwrap();
    assert!(back == data, "content differs after the round trip");
    // Reads ahead (a thread, 8 MiB requests): byte-sized reads see the same bytes, and a
    // reader dropped half-way stops its thread (the file is deleted below).
    let mut r = t.open("big.bin").unwrap();
    let mut head = vec![0u8; WRITE_BATCH + 7];
    r.read_exact(&mut head[..1]).unwrap();
    r.read_exact(&mut head[1..]).unwrap();
    assert!(head == data[..head.len()]);
    drop(r);
    // Small reads: at most `limit + 1` bytes, or all of a shorter file.
    let limit = WRITE_BATCH as u64 + 5;
    assert!(t.read_limited("big.bin", limit).unwrap() == data[..limit as usize + 1]);
    assert!(t.read_limited("big.bin", 1 << 30).unwrap() == data);
    // One big write (larger than a batch) goes straight through too.
    let mut up = t.create("one-write.bin").unwrap();
    up.write_all(&data).unwrap();
    assert_eq!(up.commit().unwrap(), data.len() as u64);
    assert!(t.read_all("one-write.bin").unwrap() == data);
    if let Some(local) = env.local("backups", &folder) {
        assert_eq!(
            std::fs::metadata(local.join("big.bin")).unwrap().len(),
            data.len() as u64
        );
    }
    t.remove_tree("").unwrap();
}

#[test]
fn dropped_or_refused_uploads_leave_no_temporary_file() {
    let Some((_g, env)) = setup("dropped_or_refused_uploads_leave_no_temporary_file") else {
        return;
    };
    let (t, folder) = env.fresh(&env.share, "drop");
    t.mkdir_all("").unwrap();
    {
        let mut up = t.create("never.bin").unwrap();
        up.write_all(&pattern(WRITE_BATCH + 10)).unwrap();
        assert_eq!(
            t.list("").unwrap().len(),
            1,
            "the temporary file exists meanwhile"
        );
    }
    assert!(t.list("").unwrap().is_empty(), "{:?}", t.list(""));
    assert_eq!(t.stat("never.bin").unwrap(), None);

    // Commit onto an existing name fails, keeps the old file and removes the temporary one.
    t.write_all("exists", b"old").unwrap();
    let mut up = t.create("exists").unwrap();
    up.write_all(b"new content").unwrap();
    match up.commit() {
        Err(StoreError::AlreadyExists { path, .. }) => assert_eq!(path, "exists"),
        other => panic!("commit onto an existing name: {other:?}"),
    }
    let mut up = t.create("EXISTS").unwrap();
    up.write_all(b"other case").unwrap();
    assert!(
        matches!(up.commit(), Err(StoreError::AlreadyExists { .. })),
        "names are case-insensitive"
    );
    assert_eq!(t.read_all("exists").unwrap(), b"old");
    assert_eq!(names(&t.list("").unwrap()), vec!["exists"]);
    if let Some(local) = env.local("backups", &folder) {
        assert_eq!(local_names(&local), vec!["exists"]);
    }
    t.remove_tree("").unwrap();
}

#[test]
fn names_round_trip() {
    let Some((_g, env)) = setup("names_round_trip") else {
        return;
    };
    let (t, folder) = env.fresh(&env.share, "names");
    let odd = [
        "100% sure",
        "a%20b",
        "%41%",
        "with  two spaces",
        "café Ünïcödé",
        "日本語 файл",
        "punct;,+=&#@'()[]{}!$^~`",
        "trailing.dots.tar.zst",
    ];
    t.mkdir_all("").unwrap();
    for name in odd {
        let dir = format!("{name} dir");
        t.mkdir_all(&dir).unwrap();
        let path = format!("{dir}/{name}");
        let mut up = t.create(&path).unwrap();
        up.write_all(name.as_bytes()).unwrap();
        assert_eq!(up.commit().unwrap(), name.len() as u64);
        assert_eq!(t.read_all(&path).unwrap(), name.as_bytes(), "{name}");
        assert_eq!(names(&t.list(&dir).unwrap()), vec![name]);
        assert_eq!(t.stat(&path).unwrap().unwrap().size, name.len() as u64);
    }
    let mut want: Vec<String> = odd.iter().map(|n| format!("{n} dir")).collect();
    want.sort();
    let listed = t.list("").unwrap();
    assert_eq!(
        names(&listed),
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(listed.iter().all(|e| e.is_dir));
    if let Some(local) = env.local("backups", &folder) {
        assert_eq!(local_names(&local), want, "names on the server's disk");
    }
    // A rename with such names.
    t.rename("100% sure dir/100% sure", "café Ünïcödé dir/50% sûr")
        .unwrap();
    assert_eq!(
        t.read_all("café Ünïcödé dir/50% sûr").unwrap(),
        b"100% sure"
    );
    // Names the server refuses are refused before asking it.
    for bad in [
        "a:b",
        "what?",
        "st*r",
        "pi|pe",
        "<x>",
        "quo\"te",
        "back\\slash",
    ] {
        match t.create(bad) {
            Err(StoreError::Io { source, .. }) => {
                assert_eq!(source.kind(), ErrorKind::InvalidInput, "{bad}")
            }
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("{bad} accepted"),
        }
        assert!(t.stat(bad).is_err(), "{bad}");
    }
    t.remove_tree("").unwrap();
}

#[test]
fn wrong_credentials_are_access_denied() {
    let Some((_g, env)) = setup("wrong_credentials_are_access_denied") else {
        return;
    };
    let unc = env.unc(&env.share, &[]);
    let wrong = Credentials {
        username: env.user.clone(),
        password: zeroize::Zeroizing::new(format!("{}x", env.password)),
    };
    let e = SmbStore::connect(&unc, Some(&wrong)).unwrap_err();
    assert!(matches!(e, StoreError::AccessDenied { .. }), "{e:?}");
    assert!(!e.to_string().contains(&env.password), "{e}");
    let unknown = Credentials {
        username: "no-such-user-azs".into(),
        password: zeroize::Zeroizing::new("whatever".into()),
    };
    let e = SmbStore::connect(&unc, Some(&unknown)).unwrap_err();
    assert!(matches!(e, StoreError::AccessDenied { .. }), "{e:?}");
    // No credentials: the server admits no guests.
    let e = SmbStore::connect(&unc, None).unwrap_err();
    assert!(matches!(e, StoreError::AccessDenied { .. }), "{e:?}");
    // The right password with DOMAIN\user (the server's workgroup) works.
    let domain_user = Credentials {
        username: format!("AZSTEST\\{}", env.user),
        password: zeroize::Zeroizing::new(env.password.clone()),
    };
    let t = SmbStore::connect(&unc, Some(&domain_user)).unwrap();
    assert!(t.stat("").unwrap().unwrap().is_dir);
}

#[test]
fn missing_share_is_not_found() {
    let Some((_g, env)) = setup("missing_share_is_not_found") else {
        return;
    };
    let e = SmbStore::connect(&env.unc("no-such-share", &["x"]), Some(&env.creds())).unwrap_err();
    match &e {
        StoreError::NotFound { what, .. } => assert!(what.contains("no-such-share"), "{e}"),
        other => panic!("missing share: {other:?}"),
    }
    // A folder that is a file is not a usable root either.
    let (t, folder) = env.fresh(&env.share, "fileroot");
    t.mkdir_all("").unwrap();
    t.write_all("file", b"x").unwrap();
    let e = SmbStore::connect(&env.unc(&env.share, &[&folder, "file"]), Some(&env.creds()))
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
    t.remove_tree("").unwrap();
}

#[test]
fn stopped_server_is_unreachable() {
    let Some((_g, env)) = setup("stopped_server_is_unreachable") else {
        return;
    };
    // A port where nothing listens.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut unc = env.unc(&env.share, &[]);
    unc.host = "127.0.0.1".into();
    unc.port = Some(port);
    let e = SmbStore::connect(&unc, Some(&env.creds())).unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    assert!(e.is_target_unavailable());
}

#[test]
fn silent_server_times_out() {
    let Some((_g, env)) = setup("silent_server_times_out") else {
        return;
    };
    // Accepts connections and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            held.len()
        })
    };
    let mut unc = env.unc(&env.share, &[]);
    unc.host = "127.0.0.1".into();
    unc.port = Some(port);
    std::env::set_var(TIMEOUT_ENV, "2");
    let start = Instant::now();
    let r = SmbStore::connect(&unc, Some(&env.creds()));
    let took = start.elapsed();
    std::env::set_var(TIMEOUT_ENV, "bogus");
    let bad = SmbStore::connect(&unc, Some(&env.creds()));
    std::env::remove_var(TIMEOUT_ENV);
    stop.store(true, Ordering::SeqCst);
    let accepted = holder.join().unwrap();
    assert!(accepted >= 1, "the client never connected");
    let e = r.unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "timed out after {took:?}, expected about 2 s"
    );
    match bad {
        Err(e) => assert!(e.to_string().contains(TIMEOUT_ENV), "{e}"),
        Ok(_) => panic!("a bad {TIMEOUT_ENV} was accepted"),
    }
}

#[test]
fn full_share_is_full_and_partial_file_removed() {
    let Some((_g, env)) = setup_exclusive("full_share_is_full_and_partial_file_removed") else {
        return;
    };
    let Some(tiny) = env.tiny_share.clone() else {
        if std::env::var("AZS_TEST_SMB").as_deref() == Ok("required") {
            panic!("AZS_TEST_SMB=required but the server has no tiny share (AZS_TEST_SMB_TINY_SHARE is empty: could the script mount a tmpfs?)");
        }
        eprintln!("skipping the full-share test: no tiny share");
        return;
    };
    let (t, folder) = env.fresh(&tiny, "full");
    t.mkdir_all("").unwrap();
    let cap = t.capacity().unwrap().expect("capacity of the tiny share");
    assert!(
        cap.total.abs_diff(env.tiny_bytes) <= 64 * 1024,
        "tiny share reports {} bytes, it has {}",
        cap.total,
        env.tiny_bytes
    );
    assert!(
        cap.available <= cap.total && cap.available > cap.total / 2,
        "{cap:?}"
    );

    let data = pattern((env.tiny_bytes as usize) + 2 * WRITE_BATCH);
    let mut up = t.create("too-big.bin").unwrap();
    let write = up.write_all(&data).and_then(|_| up.flush());
    let err = match write {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
            // A later write fails the same way, and so does the commit.
            assert_eq!(
                up.write(b"more").unwrap_err().kind(),
                ErrorKind::StorageFull
            );
            let mapped = StoreError::from_io(&t.display(), "write", "too-big.bin", e);
            assert!(matches!(mapped, StoreError::Full { .. }), "{mapped:?}");
            up.commit().unwrap_err()
        }
        Ok(()) => up.commit().unwrap_err(),
    };
    assert!(matches!(err, StoreError::Full { .. }), "{err:?}");
    assert!(err.is_target_unavailable());
    // The partial temporary file is gone, so the space is free again.
    assert!(t.list("").unwrap().is_empty(), "{:?}", t.list(""));
    if let Some(local) = env.local("tiny", &folder) {
        assert!(local_names(&local).is_empty());
    }
    let after = t.capacity().unwrap().unwrap();
    assert!(after.available > after.total / 2, "{after:?}");
    // A file that fits still works.
    t.write_all("small", b"fits").unwrap();
    assert_eq!(t.read_all("small").unwrap(), b"fits");
    t.remove_tree("").unwrap();
}

#[test]
fn capacity_of_the_share() {
    let Some((_g, env)) = setup("capacity_of_the_share") else {
        return;
    };
    let t = SmbStore::connect(&env.unc(&env.share, &[]), Some(&env.creds())).unwrap();
    let cap = t.capacity().unwrap().expect("capacity");
    assert!(cap.total > 0 && cap.available <= cap.total, "{cap:?}");
    if let Some(dir) = &env.dir {
        let local = dir.join("share/backups");
        let total = fs4::total_space(&local).unwrap();
        assert!(
            cap.total.abs_diff(total) <= total / 100,
            "share reports {} bytes, its filesystem has {total}",
            cap.total
        );
        let avail = fs4::available_space(&local).unwrap();
        assert!(
            cap.available.abs_diff(avail) <= total / 100,
            "share reports {} bytes free, its filesystem {avail}",
            cap.available
        );
    }
}

#[test]
fn server_killed_mid_upload_then_restarted() {
    let Some((_g, env)) = setup_exclusive("server_killed_mid_upload_then_restarted") else {
        return;
    };
    let Some(dir) = env.dir.clone() else {
        eprintln!("skipping: the server is not on this machine (AZS_TEST_SMB_DIR)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/samba-server.sh");
    let (t, folder) = env.fresh(&env.share, "restart");
    t.mkdir_all("").unwrap();
    let mut up = t.create("interrupted.bin").unwrap();
    up.write_all(&pattern(WRITE_BATCH + 1000)).unwrap();
    up.flush().unwrap();

    // Kill smbd (all its processes) as a crash would.
    let pid = std::fs::read_to_string(dir.join("run/smbd.pid")).unwrap();
    let pid = pid.trim();
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));

    let e = up
        .write_all(&pattern(WRITE_BATCH))
        .and_then(|_| up.flush())
        .unwrap_err();
    let mapped = StoreError::from_io(&t.display(), "write", "interrupted.bin", e);
    assert!(
        matches!(mapped, StoreError::Unreachable { .. }),
        "{mapped:?}"
    );
    match t.stat("x") {
        Err(StoreError::Unreachable { .. }) => {}
        other => panic!("stat with the server down: {other:?}"),
    }

    let out = Command::new(&script)
        .arg("restart")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The upload's temporary file is removed on drop, through a new connection.
    drop(up);
    assert!(t.list("").unwrap().is_empty(), "{:?}", t.list(""));
    if let Some(local) = env.local("backups", &folder) {
        assert!(local_names(&local).is_empty());
    }
    // The same target keeps working.
    t.write_all("after", b"restart").unwrap();
    assert_eq!(t.read_all("after").unwrap(), b"restart");
    t.remove_tree("").unwrap();
}

/// libsmbclient prints smb.conf complaints and debug messages on stdout; the target moves
/// them to stderr. Runs `stdout_child` in a child process whose smb.conf has an unknown
/// parameter, and looks at both streams.
#[test]
fn libsmbclient_messages_stay_off_stdout() {
    let Some((_g, env)) = setup("libsmbclient_messages_stay_off_stdout") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".smb")).unwrap();
    std::fs::write(
        home.path().join(".smb/smb.conf"),
        "[global]\n azs bogus parameter = 1\n",
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "stdout_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", home.path())
        .env("AZS_SMB_STDOUT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("CHILD-CONNECTED"), "{stdout}");
    assert!(
        stderr.contains("azs bogus parameter"),
        "libsmbclient did not complain on stderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("azs bogus parameter"),
        "libsmbclient wrote on stdout:\n{stdout}"
    );
    drop(env);
}

#[test]
#[ignore = "run by libsmbclient_messages_stay_off_stdout in a child process"]
fn stdout_child() {
    assert_eq!(std::env::var("AZS_SMB_STDOUT_CHILD").as_deref(), Ok("1"));
    let env = Env {
        host: std::env::var("AZS_TEST_SMB_HOST").unwrap(),
        port: std::env::var("AZS_TEST_SMB_PORT").unwrap().parse().unwrap(),
        user: std::env::var("AZS_TEST_SMB_USER").unwrap(),
        password: std::env::var("AZS_TEST_SMB_PASSWORD").unwrap(),
        share: std::env::var("AZS_TEST_SMB_SHARE").unwrap(),
        dir: None,
        tiny_share: None,
        tiny_bytes: 0,
    };
    let t = SmbStore::connect(&env.unc(&env.share, &[]), Some(&env.creds())).unwrap();
    t.list("").unwrap();
    println!("CHILD-CONNECTED");
}

/// An upload dropped while another session still has its temporary file open (a helper
/// process killed mid-upload, whose session the server has not closed yet) still removes the
/// file once that session lets go, instead of leaving it to `prune`: the server refuses the
/// deletion (a sharing violation) until then.
#[test]
fn a_temporary_file_held_open_elsewhere_is_removed_once_released() {
    let Some((_g, env)) = setup("a_temporary_file_held_open_elsewhere_is_removed_once_released")
    else {
        return;
    };
    let (t, folder) = env.fresh(&env.share, "held");
    t.mkdir_all("").unwrap();
    let other = SmbStore::connect(&env.unc(&env.share, &[&folder]), Some(&env.creds())).unwrap();
    let mut up = t.create("held.bin").unwrap();
    up.write_all(&pattern(WRITE_BATCH + 10)).unwrap();
    up.flush().unwrap();
    let tmp = t.list("").unwrap().remove(0).name;
    assert!(tmp.ends_with(".partial"), "{tmp}");
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let (dropped, closing) = std::thread::scope(|s| {
        let holder = s.spawn(|| {
            let mut reader = other.open(&tmp).unwrap();
            let mut first = [0u8; 16];
            reader.read_exact(&mut first).unwrap();
            opened_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(800));
            // The deletion can succeed only once this close has started.
            let closing = Instant::now();
            drop(reader);
            closing
        });
        opened.recv().unwrap();
        drop(up);
        let dropped = Instant::now();
        (dropped, holder.join().unwrap())
    });
    assert!(
        dropped >= closing,
        "the drop returned before the other session let go"
    );
    assert_eq!(names(&t.list("").unwrap()), Vec::<&str>::new());
    if let Some(local) = env.local("backups", &folder) {
        assert!(local_names(&local).is_empty());
    }
    t.remove_tree("").unwrap();
}
