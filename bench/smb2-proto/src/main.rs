//! A benchmark prototype, not part of azs-backup: uploads FILE (an archive azs-backup made)
//! with the requests a backup makes, through the pure-Rust `smb2` crate (compound requests,
//! several WRITEs in flight on one connection), to measure what another SMB client than
//! libsmbclient (through pavao) would give on a link with latency (issue 12, target 7).
//!
//! The requests, in a backup's order: connect; create the lock file (create + write + close);
//! the share's free space; make the backup's folder; create the temporary file exclusively
//! and stream FILE into it in 8 MiB pieces (what the backup's encryptor hands its target);
//! check that the final name is free; rename; check the size; write the manifest; delete
//! the lock; disconnect. The archive is read from the page cache: no compression and no
//! encryption, so this is the network side of a backup alone.
//!
//! Environment: ADDR (host:port), SMB_USER, SMB_PASSWORD, SMB_SHARE, DIR (a folder of the
//! share, which must exist), FILE; WINDOW (WRITEs in flight, default 16) and CHUNK (bytes per
//! WRITE, default 1 MiB). Prints one line of times on stderr.
use std::io::Read;
use std::time::Instant;

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"))
}

fn number(k: &str, default: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, user, password) = (var("ADDR"), var("SMB_USER"), var("SMB_PASSWORD"));
    let (share, dir, file) = (var("SMB_SHARE"), var("DIR"), var("FILE"));
    let window = number("WINDOW", 16);
    let chunk = u32::try_from(number("CHUNK", 1 << 20))?;

    let t0 = Instant::now();
    let mut client = smb2::connect(&addr, &user, &password).await?;
    let mut tree = client.connect_share(&share).await?;
    let connected = t0.elapsed();
    let lock = format!("{dir}/.azs-backup.lock");
    client
        .write_file_compound_exclusive(&tree, &lock, b"{\"prototype\":true}")
        .await?;
    let room = client.fs_info(&mut tree).await?;
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let _ = client
        .create_directory(&tree, &format!("{dir}/MASBackup"))
        .await;
    let folder = format!("{dir}/MASBackup/proto-{id}");
    client.create_directory(&tree, &folder).await?;
    let tmp = format!("{folder}/.data.tar.zst.enc.partial");
    let mut writer = client
        .create_file_writer_exclusive(&tree, &tmp)
        .await?
        .with_write_behind(smb2::WriteBehind::Fixed(window))
        .with_chunk_size(chunk);
    let first_byte = t0.elapsed();

    let mut input = std::fs::File::open(&file)?;
    let mut buf = vec![0u8; 8 << 20];
    let mut sent = 0u64;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match input.read(&mut buf[n..])? {
                0 => break,
                r => n += r,
            }
        }
        if n == 0 {
            break;
        }
        writer.write_chunk(&buf[..n]).await?;
        sent += n as u64;
    }
    let written = writer.finish().await?;
    let last_byte = t0.elapsed();
    assert_eq!(written, sent, "the server confirmed every byte");

    let archive = format!("{folder}/data.tar.zst.enc");
    assert!(
        client.stat(&mut tree, &archive).await.is_err(),
        "the final name is free"
    );
    client.rename(&tree, &tmp, &archive).await?;
    assert_eq!(client.stat(&mut tree, &archive).await?.size, sent);
    client
        .write_file_compound_exclusive(&tree, &format!("{folder}/manifest.json"), b"{}")
        .await?;
    client.delete_file(&tree, &lock).await?;
    client.disconnect_share(&tree).await?;
    let done = t0.elapsed();
    eprintln!(
        "smb2-proto: {sent} bytes; connected {:.3} s, first byte {:.3} s, last byte {:.3} s, \
         done {:.3} s ({:.1} MiB/s); {window} WRITEs of {chunk} bytes in flight; {} GB free",
        connected.as_secs_f64(),
        first_byte.as_secs_f64(),
        last_byte.as_secs_f64(),
        done.as_secs_f64(),
        sent as f64 / done.as_secs_f64() / 1048576.0,
        room.free_bytes / 1_000_000_000,
    );
    Ok(())
}
