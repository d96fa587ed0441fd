//! Warm helpers: helper processes that connect while a backup is still getting ready.
//!
//! A helper needs about 14 requests to connect (negotiate, session setup, tree connect, the
//! root folder's `stat`, ...). Started once an upload has waited for the network, as
//! `upload.rs` does, they connect while the upload runs on its one connection: through a
//! 20 ms round trip that was the upload's first 0.6 s, at half its later rate
//! (docs/BENCHMARKS.md, seventh pass). So a backup tells its target that a large upload is
//! coming ([`crate::store::Store::expect_upload`]) before it takes its lock and checks the
//! room; when connecting took [`SLOW_CONNECT`] or more (a remote link), the target starts its
//! helpers then, without a file ([`Hello`] without a URL), and they connect meanwhile.
//!
//! - An upload takes the connected ones ([`Warm::take`]) as its first lanes, from its first
//!   full batch on; each opens the upload's temporary file ([`Helper::open`]). It starts
//!   fresh helpers only when none is still connecting here.
//! - Helpers not taken are stopped when the target is dropped ([`Warm::close`]): the connected
//!   ones read the end of their input and exit; those still connecting are killed.
//! - A helper that cannot start or connect is left out, as in an upload.

use super::helper::{Hello, Helper, Starting};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Connecting (the first request's round trips) took at least this long: the link is slow
/// enough for warm helpers. On loopback it takes a few milliseconds, on a LAN a few tens of
/// milliseconds at most; 14 round trips of 4 ms are 56 ms.
pub(super) const SLOW_CONNECT: Duration = Duration::from_millis(50);
/// Warm helpers only for an upload expected to be at least this large (smaller ones are over
/// before helpers would help; a manifest never starts one).
pub(super) const WARM_FROM: u64 = 32 << 20;

/// The warm helpers of a target.
#[derive(Default)]
pub(super) struct Warm {
    state: Mutex<State>,
    /// Helpers still connecting, killed by [`Warm::close`].
    starting: Starting,
}

#[derive(Default)]
struct State {
    ready: Vec<Helper>,
    connecting: usize,
    started: bool,
    closed: bool,
}

impl Warm {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `n` helpers of `program`, each with the first line `hello()`, once per target.
    pub(super) fn start(
        self: &Arc<Self>,
        program: &'static Path,
        hello: impl Fn() -> Hello,
        n: usize,
    ) {
        let mut st = self.state();
        if st.started || st.closed {
            return;
        }
        st.started = true;
        for i in 1..=n {
            let hello = hello();
            let warm = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name(format!("smb-warm-{i}"))
                .spawn(move || {
                    let r = Helper::start(program, &hello, &warm.starting);
                    drop(hello);
                    let mut st = warm.state();
                    st.connecting -= 1;
                    match r {
                        Ok(h) if !st.closed => st.ready.push(h),
                        Ok(mut h) => {
                            drop(st);
                            h.abandon();
                        }
                        Err(_) => {}
                    }
                });
            if spawned.is_ok() {
                st.connecting += 1;
            }
        }
    }

    /// A connected helper, if one is ready.
    pub(super) fn take(&self) -> Option<Helper> {
        self.state().ready.pop()
    }

    /// Whether helpers are still connecting (ready soon, unless they fail).
    pub(super) fn connecting(&self) -> bool {
        self.state().connecting > 0
    }

    /// Stops the helpers not taken: the connected ones are told their input ended (all of
    /// them first, so that they disconnect together) and waited for; those still connecting
    /// are killed.
    pub(super) fn close(&self) {
        let mut ready = {
            let mut st = self.state();
            st.closed = true;
            std::mem::take(&mut st.ready)
        };
        self.starting.close();
        for h in &mut ready {
            h.hang_up();
        }
        for h in ready {
            let _ = h.finish();
        }
    }
}
