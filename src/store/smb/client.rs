//! Making a libsmbclient client (a pavao `SmbClient`): the first one in the process also sets
//! where libsmbclient's messages go, so that nothing it prints reaches stdout.

use pavao::{SmbClient, SmbCredentials, SmbError, SmbOptions};
#[cfg(unix)]
use std::io::{self, Write};

/// Process-wide first-connection setup state (see [`new_client`]).
static FIRST_CLIENT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

#[cfg(unix)]
mod ffi {
    use std::ffi::{c_int, c_void};
    extern "C" {
        // libsmbclient (linked by pavao-sys).
        pub fn smbc_setOptionDebugToStderr(ctx: *mut c_void, yes: c_int);
        pub fn smbc_setDebug(ctx: *mut c_void, level: c_int);
        // libc.
        pub fn dup(fd: c_int) -> c_int;
        pub fn dup2(from: c_int, to: c_int) -> c_int;
        pub fn close(fd: c_int) -> c_int;
    }
}

/// Creates a pavao client. The first one in the process initialises libsmbclient, which loads
/// smb.conf and prints its complaints on stdout: that happens with stdout pointed at stderr
/// (the Rust stdout lock is held meanwhile), and libsmbclient's log is then moved to stderr for
/// good, at debug level 0.
pub(super) fn new_client(
    creds: SmbCredentials,
    options: SmbOptions,
) -> Result<SmbClient, SmbError> {
    let mut first_done = FIRST_CLIENT.lock().unwrap_or_else(|p| p.into_inner());
    if *first_done {
        return SmbClient::new(creds, options);
    }
    #[cfg(unix)]
    {
        let stdout = io::stdout();
        let mut guard = stdout.lock();
        let _ = guard.flush();
        // SAFETY: plain descriptor calls; fd 1 is restored below before the lock is released.
        let saved = unsafe { ffi::dup(1) };
        let redirected = saved >= 0 && unsafe { ffi::dup2(2, 1) } >= 0;
        let client = SmbClient::new(creds, options);
        if let Ok(c) = &client {
            if let Ok(ctx) = c.ctx() {
                // SAFETY: the context is live and no other pavao client exists yet (this is
                // the first one), so nothing races these two setters.
                unsafe {
                    ffi::smbc_setDebug(ctx.cast(), 0);
                    ffi::smbc_setOptionDebugToStderr(ctx.cast(), 1);
                }
            }
        }
        if saved >= 0 {
            // SAFETY: `saved` is the descriptor duplicated above.
            unsafe {
                if redirected {
                    ffi::dup2(saved, 1);
                }
                ffi::close(saved);
            }
        }
        drop(guard);
        if client.is_ok() {
            *first_done = true;
        }
        client
    }
    #[cfg(not(unix))]
    {
        let client = SmbClient::new(creds, options);
        *first_done = client.is_ok();
        client
    }
}
