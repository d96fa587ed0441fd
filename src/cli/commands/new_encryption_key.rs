//! `new-encryption-key`: print a new legacy encryption key (New-AzsEncryptionKeyBase64).

use super::Context;
use crate::cli::command_error::CommandError;
use crate::cli::exit;
use azs_backup::crypto::LegacyKey;

pub fn run(ctx: &Context) -> Result<i32, CommandError> {
    // The key is the command's product: printed even with --quiet.
    let key = LegacyKey::generate_text();
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "encryptionKey": key.as_str() }))?;
    } else {
        ctx.out.print(key.as_str())?;
    }
    Ok(exit::OK)
}
