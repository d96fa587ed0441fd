//! Exit codes, as documented in README.md ("Exit codes") and in `--help`. Which error gets which
//! code is decided in one place: the table in `command_error.rs`.

pub const OK: i32 = 0;
pub const OTHER: i32 = 1;
pub const USAGE: i32 = 2;
pub const SETTINGS: i32 = 3;
pub const TARGET: i32 = 4;
pub const LOCKED: i32 = 5;
pub const PARTIAL: i32 = 6;
pub const VERIFY: i32 = 7;
pub const WRONG_KEY: i32 = 8;
pub const NOT_FOUND: i32 = 9;
pub const NOT_CONFIRMED: i32 = 10;
pub const UNHEALTHY: i32 = 11;
