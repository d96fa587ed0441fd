//! How a backup reports progress to whoever runs it (a leaf module).

use crate::manifest::RoleStatus;

/// Receives progress of a backup. Every method has a no-op default.
pub trait Observer {
    /// True when the observer shows sizes (a progress bar): only then are the sources measured
    /// before they are read, which costs a walk of every source.
    fn wants_sizes(&self) -> bool {
        false
    }
    /// A source starts; `total` is its size in bytes as measured before the run, if known.
    fn source_started(&mut self, _name: &str, _total: Option<u64>) {}
    /// Bytes of file contents read and encrypted bytes written so far, for the current source.
    fn progress(&mut self, _read: u64, _written: u64) {}
    /// A source is done.
    fn source_finished(&mut self, _role: &RoleStatus) {}
    /// Something was skipped or went wrong without stopping the run.
    fn warning(&mut self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}
