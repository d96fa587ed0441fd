//! Test-only fault points (a leaf module). The crash and fault suites name a step in the
//! environment variable [`ENV`], and the process stops or stalls there:
//!
//! ```text
//! AZS_BACKUP_TEST_HOOK="backup.before-manifest=kill"        SIGKILL this process at that step
//! AZS_BACKUP_TEST_HOOK="pack.read=sleep:200"                sleep 200 ms each time it is reached
//! AZS_BACKUP_TEST_HOOK="a=kill,b=sleep:50"                  several steps
//! AZS_BACKUP_TEST_HOOK="prune.delete#2=kill"                only the 2nd time the step is reached
//! ```
//!
//! Unset (always, outside tests), every [`point`] is a load of a cached `None`. The steps are
//! listed in docs/RELIABILITY.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms the fault points.
pub const ENV: &str = "AZS_BACKUP_TEST_HOOK";

enum Action {
    Kill,
    Sleep(u64),
}

struct Rule {
    step: String,
    nth: Option<u64>,
    action: Action,
    hits: AtomicU64,
}

fn rules() -> &'static Option<Vec<Rule>> {
    static RULES: OnceLock<Option<Vec<Rule>>> = OnceLock::new();
    RULES.get_or_init(|| {
        let v = std::env::var(ENV).ok()?;
        let rules: Vec<Rule> = v
            .split(',')
            .filter_map(|r| {
                let (step, action) = r.trim().split_once('=')?;
                let (step, nth) = match step.split_once('#') {
                    Some((s, n)) => (s, n.parse().ok()),
                    None => (step, None),
                };
                let action = match action.split_once(':') {
                    Some(("sleep", ms)) => Action::Sleep(ms.parse().ok()?),
                    None if action == "kill" => Action::Kill,
                    _ => return None,
                };
                Some(Rule {
                    step: step.to_string(),
                    nth,
                    action,
                    hits: AtomicU64::new(0),
                })
            })
            .collect();
        (!rules.is_empty()).then_some(rules)
    })
}

/// A named step. Does nothing unless [`ENV`] names it.
#[inline]
pub fn point(step: &str) {
    let Some(rules) = rules() else {
        return;
    };
    for r in rules.iter().filter(|r| r.step == step) {
        let n = r.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if r.nth.is_some_and(|want| want != n) {
            continue;
        }
        match r.action {
            Action::Sleep(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Action::Kill => kill_self(),
        }
    }
}

fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid with SIGKILL; no memory is touched.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
