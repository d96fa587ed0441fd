# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_azs_backup_global_optspecs
    string join \n config= json q/quiet v/verbose h/help V/version
end

function __fish_azs_backup_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_azs_backup_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_azs_backup_using_subcommand
    set -l cmd (__fish_azs_backup_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c azs-backup -n "__fish_azs_backup_needs_command" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_needs_command" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -s V -l version -d 'Print version'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "configure" -d 'Create or change settings (Set-AzsBackupConfiguration; the Configuration blade)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "status" -d 'Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "start-backup" -d 'Make a backup now (Start-AzsBackup; Backup now). Does not move the next scheduled time'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "enable-auto" -d 'Turn automatic backups on (Enable Automatic Backups button)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "disable-auto" -d 'Pause automatic backups, keeping the schedule (Disable Automatic Backups)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "tick" -d 'Make a backup if one is due, then prune (the built-in scheduler)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "prune" -d 'Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "list" -d 'List backups on the target, newest first (Get-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "show" -d 'Show one backup (Get-AzsBackup -Name ID)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "verify" -d 'Check a backup: files and checksums, and with the key every chunk (the backup validation tool)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "restore" -d 'Decrypt and extract a backup into a directory (Restore-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "new-cert" -d 'Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "new-encryption-key" -d 'Print a new legacy encryption key (New-AzsEncryptionKeyBase64)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "rotate-cert" -d 'New backups use a new certificate; old ones keep theirs (uploading a new .cer)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "clear" -d 'Remove settings, secrets and state (Clear-AzsBackupConfiguration)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "unprotect" -d 'Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "man" -d 'Print the man page, or write every page into a directory'
complete -c azs-backup -n "__fish_azs_backup_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l path -d 'Backup location: \\\\host\\share\\folder, smb://host:port/share/folder, or a local directory' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l username -d 'Share user: DOMAIN\\user or user' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l encryption-cert-path -l cert -d 'Public-only certificate (.cer, DER or PEM) that backups are encrypted for' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l recovery-cert-path -d 'Recovery certificate (public-only .cer, DER or PEM): backups are also encrypted for it, so its private key restores them too (repeatable; kept until removed)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l remove-recovery-cert -d 'Stop encrypting new backups for this recovery certificate (repeatable; backups already made still open with it)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l encryption-key -d 'Legacy encryption key (backward-compatibility mode only; prefer --encryption-key-stdin)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l backup-frequency-in-hours -l frequency -d 'Hours between automatic backups (4..=12, default 12)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l backup-retention-period-in-days -l retention -d 'Days backups are kept (2..=14, default 7)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l source -d 'A source to back up, NAME=DIR (repeatable; adds it or changes its directory)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l remove-source -d 'Remove a source by name (repeatable)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l verify-after-write -d 'After each archive is written, read it back from the target and compare its SHA-256 (catches shares that truncate or corrupt silently; costs one extra read of every archive)' -r -f -a "true\t''
false\t''"
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l is-backup-scheduler-enabled -d 'Turn automatic backups on or off, as enable-auto / disable-auto (Set-AzsBackupConfiguration -IsBackupSchedulerEnabled)' -r -f -a "true\t''
false\t''"
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l notify-url -d 'Ping this URL when a backup starts (URL/start), succeeds (URL) or fails (URL/fail), as healthchecks.io and compatible monitors expect; \'\' removes it. Only scheme and host are ever shown (the path may hold a ping key)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l metrics-file -d 'After every run, write Prometheus metrics to this file (for node_exporter\'s textfile collector), atomically; \'\' removes it' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l compression-level -d 'zstd level of new archives (1..=19, default 1; higher: smaller and slower)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l password-stdin -d 'Read the share password from the first line of stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l encryption-key-stdin -d 'Read the legacy encryption key from stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l no-verify -d 'Do not prove the target reachable and writable'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -s y -l yes -d 'Confirm changes that delete backups (reducing retention) without asking'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand configure" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -l check -d 'Exit 11 when any health warning is present (for monitoring and smoke tests)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -l offline -d 'Do not contact the target (no capacity, no reachability check)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand status" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand start-backup" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand start-backup" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand start-backup" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand start-backup" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand start-backup" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand enable-auto" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand enable-auto" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand enable-auto" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand enable-auto" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand enable-auto" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand disable-auto" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand disable-auto" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand disable-auto" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand disable-auto" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand disable-auto" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand tick" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand tick" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand tick" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand tick" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand tick" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -l operation-type -d 'Default deletes, DryRun only lists (as the cmdlet\'s -OperationType)' -r -f -a "Default\t''
DryRun\t''"
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -l dry-run -d 'List the paths that would be deleted; delete nothing (= --operation-type DryRun)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand prune" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l from -d 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l username -d 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l top -d 'Show at most N backups (after --skip), newest first (Get-AzsBackup -Top)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l skip -d 'Leave out the N newest backups (Get-AzsBackup -Skip)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l all -d 'Also list folders of interrupted or failed runs'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand list" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -l from -d 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -l username -d 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand show" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l key -l decryption-cert-path -d 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l from -d 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l username -d 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l key-password-stdin -l decryption-cert-password-stdin -d 'Read the .pfx password from the first line of stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l encryption-key-stdin -d 'Read a legacy encryption key from stdin (backups made in backward-compatibility mode)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand verify" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l key -l decryption-cert-path -d 'Private key: PKCS#8/PKCS#1 .pem, or .pfx/.p12 (password from a prompt, --key-password-stdin or AZS_BACKUP_KEY_PASSWORD)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l to -l destination -d 'Directory to restore into (created if missing; must be empty unless --force)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l source -l role-name -d 'Restore only this source' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l from -d 'Read backups from this location instead of the configured one (UNC share, smb:// URL or directory)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l username -d 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l key-password-stdin -l decryption-cert-password-stdin -d 'Read the .pfx password from the first line of stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l encryption-key-stdin -d 'Read a legacy encryption key from stdin (backups made in backward-compatibility mode)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l force -d 'Restore into a non-empty directory, replacing the sources\' folders'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l preserve-special-bits -d 'Restore setuid, setgid and sticky bits (masked by default: restored files belong to the user who restores, often root)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand restore" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l dns-name -d 'DNS name for the certificate\'s subject and SAN' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l out-dir -d 'Directory to write the files into' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l bits -d 'RSA key size' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l valid-days -d 'Days the certificate is valid' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l no-pfx -d 'Do not write a .pfx (only the .cer and the PKCS#8 .pem)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l pfx-password-stdin -d 'Read the .pfx password from the first line of stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-cert" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-encryption-key" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-encryption-key" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-encryption-key" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-encryption-key" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand new-encryption-key" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -l encryption-cert-path -l cert -d 'The new public-only certificate (.cer, DER or PEM) that new backups are encrypted for' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand rotate-cert" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -s y -l yes -d 'Do not ask for confirmation (for scripts)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand clear" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l from -d 'Read Azure Stack backups from this share: a folder, a mounted share, a UNC path or an smb:// URL holding MASBackup/progressivebackup/ (needs --backup-id or --list)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l username -d 'Share user for --from (password from AZS_BACKUP_PASSWORD or a prompt)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l backup-id -d 'With --from: the backup to check or extract, with every snapshot it needs (whole progressive chains)' -r
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l cert-path -l certificate -d 'The .pfx/.p12 with the private key and its certificate (password from a prompt, --cert-password-stdin or AZS_BACKUP_KEY_PASSWORD)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l destination -d 'Directory to extract into (created if missing; must be empty unless --force); with --backup-id each snapshot goes to DIR/<repository>/<snapshot file name>/' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l list -d 'With --from: list the Azure Stack backups there, newest first, and whether each chain is complete'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l cert-password-stdin -l certificate-passphrase-stdin -d 'Read the .pfx password from the first line of stdin'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l verify-only -d 'SNAPSHOT.zip only: check the thumbprint and the HMAC-SHA512; write nothing'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l check -d 'With --backup-id: every check (thumbprint, key unwrap, HMAC-SHA512, sidecar status, zip decoded entry by entry) on every snapshot; keep nothing (each decrypted zip is decoded from an unlinked temporary file in TMPDIR)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l force -d 'Extract into a non-empty directory, replacing the entries (with --backup-id: the snapshot folders) already there'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand unprotect" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand completions" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand completions" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand completions" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand completions" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand completions" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -l out-dir -d 'Write azs-backup.1 and one page per subcommand into this directory' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -l config -d 'Settings file (else AZS_BACKUP_CONFIG, else the per-user default)' -r -F
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -l json -d 'Print one JSON document on stdout (errors as JSON on stderr)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -s q -l quiet -d 'Print nothing but errors'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -s v -l verbose -d 'Print one line per step'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand man" -s h -l help -d 'Print help'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "configure" -d 'Create or change settings (Set-AzsBackupConfiguration; the Configuration blade)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "status" -d 'Show settings, schedule, last backup, capacity and health (Get-AzsBackupConfiguration; Essentials)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "start-backup" -d 'Make a backup now (Start-AzsBackup; Backup now). Does not move the next scheduled time'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "enable-auto" -d 'Turn automatic backups on (Enable Automatic Backups button)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "disable-auto" -d 'Pause automatic backups, keeping the schedule (Disable Automatic Backups)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "tick" -d 'Make a backup if one is due, then prune (the built-in scheduler)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "prune" -d 'Delete old backups (Invoke-AzsPruneBackupLocationExternalStore)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "list" -d 'List backups on the target, newest first (Get-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "show" -d 'Show one backup (Get-AzsBackup -Name ID)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "verify" -d 'Check a backup: files and checksums, and with the key every chunk (the backup validation tool)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "restore" -d 'Decrypt and extract a backup into a directory (Restore-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "new-cert" -d 'Write a self-signed RSA certificate for backups (New-SelfSignedCertificate + Export-Certificate)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "new-encryption-key" -d 'Print a new legacy encryption key (New-AzsEncryptionKeyBase64)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "rotate-cert" -d 'New backups use a new certificate; old ones keep theirs (uploading a new .cer)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "clear" -d 'Remove settings, secrets and state (Clear-AzsBackupConfiguration)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "unprotect" -d 'Check, decrypt and extract Azure Stack Hub backups: one snapshot, or a whole backup from the share (Unprotect-AzsBackup)'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "completions" -d 'Print shell completions'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "man" -d 'Print the man page, or write every page into a directory'
complete -c azs-backup -n "__fish_azs_backup_using_subcommand help; and not __fish_seen_subcommand_from configure status start-backup enable-auto disable-auto tick prune list show verify restore new-cert new-encryption-key rotate-cert clear unprotect completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
